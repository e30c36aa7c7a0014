"""The transparency record: what hkc is for, what it reads, how it scores, who oversees it, how fair its last run was.

The face of the package (``from hkc.transparency import transparency_record``).  What each module does:

=====================================  ==========================================================
:mod:`hkc.transparency.record`         the record's sections from the definitions and a stored run
:mod:`hkc.transparency.audit_sections` the audit sections: selection by group, baselines, partner copy
:mod:`hkc.transparency.markdown`       escaped Markdown text, tables, bullets, figures with intervals
=====================================  ==========================================================
"""

from hkc.transparency.audit_sections import NO_AUDIT
from hkc.transparency.markdown import TO_BE_COMPLETED, markdown_text
from hkc.transparency.record import COLUMN_USES, NO_RUN, transparency_record

__all__ = ["COLUMN_USES", "NO_AUDIT", "NO_RUN", "TO_BE_COMPLETED", "markdown_text", "transparency_record"]
