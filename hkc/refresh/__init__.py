"""The quarterly refresh: one call from an extract to a published, audited, stored run.

The face of the package (``from hkc.refresh import run_refresh``).  What each module does:

==========================  ============================================================
:mod:`hkc.refresh.run`      the orchestration: check ``--out``, validate, score, rank, map, audit, publish, store
:mod:`hkc.refresh.frames`   the published cohort and scores tables, and the rows the history keeps
:mod:`hkc.refresh.publish`  every output file written into the folder, and the packs logged
==========================  ============================================================
"""

from hkc.refresh.frames import COHORT_COLUMNS, SCORES_COLUMNS
from hkc.refresh.run import PartnerPack, RefreshResult, config_fingerprint, run_refresh

__all__ = ["COHORT_COLUMNS", "SCORES_COLUMNS", "PartnerPack", "RefreshResult", "config_fingerprint", "run_refresh"]
