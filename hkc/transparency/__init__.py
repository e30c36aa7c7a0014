"""Records for the people who approve hkc: the transparency record, the DPIA, the equality note, ALGO-CARE.

The face of the package (``from hkc.transparency import gather_facts, transparency_document``).  Every
record is written from one :class:`Facts` (the definitions, the run, its audit, the history, a
backtest) as a :class:`Document` whose fields hkc fills where it knows the answer and asks of the
partnership where only it can answer; :func:`to_markdown` and :func:`to_json` render it.  What each
module does:

=====================================  ==========================================================
:mod:`hkc.transparency.document`       the records' shape (sections of fields) as Markdown and JSON, and its schema
:mod:`hkc.transparency.facts`          what hkc knows, gathered once: definitions, run, audit, history, backtest
:mod:`hkc.transparency.statements`     the sentences several records share (retention, sharing, rights, logs)
:mod:`hkc.transparency.measured`       what the audit and the accuracy checks measured (flags, chance, backtest)
:mod:`hkc.transparency.tables`         input columns and their use, the catalogue, hashes, the run's counts
:mod:`hkc.transparency.atrs`           the Algorithmic Transparency Recording Standard's tiers, field by field
:mod:`hkc.transparency.audit_sections` the fairness audit as fields: selection by group, flags, baselines
:mod:`hkc.transparency.record`         the transparency record: the ATRS tiers and two annexes
:mod:`hkc.transparency.dpia`           the data protection impact assessment (DPA 2018 s.64 headings)
:mod:`hkc.transparency.equality`       the equality impact note (Equality Act 2010 s.149)
:mod:`hkc.transparency.algocare`       the ALGO-CARE checklist, item by item
:mod:`hkc.transparency.markdown`       escaped Markdown text, tables, bullets, figures with intervals
=====================================  ==========================================================
"""

from hkc.transparency.algocare import algocare_section
from hkc.transparency.document import (
    FOR_THE_PARTNERSHIP,
    RECORD_SCHEMA,
    Document,
    Field,
    Section,
    check_json,
    to_json,
    to_markdown,
)
from hkc.transparency.dpia import dpia_document
from hkc.transparency.facts import Facts, HistoryFacts, gather_facts, history_facts, load_backtest
from hkc.transparency.markdown import markdown_text
from hkc.transparency.record import transparency_document, transparency_record
from hkc.transparency.statements import NO_AUDIT
from hkc.transparency.tables import COLUMN_USES, NO_RUN

__all__ = ["COLUMN_USES", "Document", "FOR_THE_PARTNERSHIP", "Facts", "Field", "HistoryFacts", "NO_AUDIT", "NO_RUN",
           "RECORD_SCHEMA", "Section", "algocare_section", "check_json", "dpia_document", "gather_facts",
           "history_facts", "load_backtest", "markdown_text", "to_json", "to_markdown", "transparency_document",
           "transparency_record"]
