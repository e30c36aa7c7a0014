"""The matrix: features, scores and rationale, the cohort, peers, places and outcomes.

The face of the package: other packages import from here; modules inside it import each other
directly.  What each module does:

=============================  ============================================================
:mod:`hkc.matrix.causes`       Why someone moved down or off the list: one cause per person, the same in removed.csv and hkc movement.
:mod:`hkc.matrix.cohort`       The ranked cohort: who is listed, in what order, with which RAG band, and what moved.
:mod:`hkc.matrix.corrections`  What changed in a person's record between two extracts: events gone, changed, late or new.
:mod:`hkc.matrix.features`     Features as of a date: the points every event earns, and their sum per person and indicator.
:mod:`hkc.matrix.outcomes`     The outcome label: who had a knife-related event as offender or suspect in a window after a date.
:mod:`hkc.matrix.peers`        Peer mapping: who is involved in incidents together, the peer groups and the periphery.
:mod:`hkc.matrix.places`       Places: where the cohort and its periphery are involved in knife-related events.
:mod:`hkc.matrix.rekeys`       Probable re-keys: a cohort member who vanished while a new id with their date of birth, sex and events appeared.
:mod:`hkc.matrix.scoring`      Scores, eligibility and rationale: who may be listed, and the evidence behind every point.
=============================  ============================================================
"""

from hkc.matrix.causes import (
    CAUSE_WORDS,
    CAUSES,
    NOT_EVIDENCE,
    movement_causes,
    removal_causes,
)
from hkc.matrix.cohort import (
    CUT_OFF,
    Cohort,
    cut_off_reason,
    movement,
    rag_bands,
    rag_level,
    removed_people,
    select_cohort,
    vulnerability_bands,
)
from hkc.matrix.features import event_points, indicator_contributions
from hkc.matrix.network import co_involvement
from hkc.matrix.outcomes import knife_outcome
from hkc.matrix.peers import PeerMap, link_reason, map_peers
from hkc.matrix.rekeys import REKEY_COLUMNS, probable_rekeys, rekey_lines
from hkc.matrix.scoring import ScoreResult, ages_at, format_points, rationale, score_people

__all__ = [
    "CAUSES",
    "CAUSE_WORDS",
    "CUT_OFF",
    "NOT_EVIDENCE",
    "Cohort",
    "PeerMap",
    "REKEY_COLUMNS",
    "ScoreResult",
    "ages_at",
    "co_involvement",
    "cut_off_reason",
    "event_points",
    "format_points",
    "indicator_contributions",
    "knife_outcome",
    "link_reason",
    "map_peers",
    "movement",
    "movement_causes",
    "probable_rekeys",
    "rag_bands",
    "rag_level",
    "rationale",
    "rekey_lines",
    "removal_causes",
    "removed_people",
    "score_people",
    "select_cohort",
    "vulnerability_bands",
]
