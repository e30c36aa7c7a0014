"""What ``hkc evaluate`` found, kept so the next pack can say it: aggregate figures only.

>>> record_evaluation(store, result)        # doctest: +SKIP
>>> latest_evaluation(store)                # doctest: +SKIP
{'evaluated_at': '2026-12-03T19:00:00+00:00', 'cohorts': ['2025-03-31'], 'primary': 'did_near_miss', ...}

Why: a partnership reads the pack, not the evaluation folder.  The pack's "Is it working?" section
shows the latest evaluation's verdict — the primary design's estimate with its interval, and the
simple before/after beside it labelled as not an effect estimate — or says that none has been run.
Only what the verdict and the forest plot show is kept (each design's estimate, interval, sample
sizes, minimum detectable effect, level on the Maryland scale, and why a design was not computed):
no person, no row of the panel.  Not purged with runs: it holds nobody's data.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from hkc.errors import HistoryError
from hkc.history.schema import evaluations
from hkc.history.store import HistoryStore

__all__ = ["record_evaluation", "latest_evaluation", "evaluation_summary"]

DESIGN_FIELDS = ("available", "estimate", "ci_low", "ci_high", "n_treated", "n_comparison", "mde", "sms_level", "label", "reason")


def evaluation_summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """The aggregate part of an ``evaluation.json`` dictionary that the pack shows."""
    designs = {name: {k: design.get(k) for k in DESIGN_FIELDS if k in design}
               for name, design in (result.get("designs") or {}).items()}
    return {"cohorts": [str(c) for c in result.get("cohorts", [])], "window_days": int(result["window_days"]),
            "primary": str(result["primary"]), "designs": designs, "verdict": list(result.get("verdict", [])),
            "extract_end": str(result.get("extract", {}).get("end", "")),
            "warnings": list(result.get("warnings", []))}


def record_evaluation(store: HistoryStore, result: Mapping[str, Any], *, at: dt.datetime | None = None) -> int:
    """Keep ``result``'s :func:`evaluation_summary`; returns its id."""
    summary = evaluation_summary(result)
    row = {"evaluated_at": (at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
           "cohorts": json.dumps(summary["cohorts"]), "window_days": summary["window_days"],
           "extract_end": summary["extract_end"], "primary_design": summary["primary"],
           "summary": json.dumps(summary, sort_keys=True, default=str)}
    try:
        with store.engine.begin() as conn:
            return int(conn.execute(evaluations.insert().values(**row)).inserted_primary_key[0])
    except SQLAlchemyError as exc:
        raise HistoryError(f"history database {store.url}: could not keep the evaluation "
                           f"({str(exc).splitlines()[0]})") from None


def latest_evaluation(store: HistoryStore) -> dict[str, Any] | None:
    """The most recent evaluation's summary with ``evaluated_at``, or None when none was kept."""
    try:
        frame = store.frame(sa.select(evaluations).order_by(evaluations.c.evaluation_id.desc()).limit(1))
    except (SQLAlchemyError, HistoryError):
        return None  # a read-only store from before evaluations were kept
    if frame.empty:
        return None
    row = frame.iloc[0]
    return json.loads(row["summary"]) | {"evaluated_at": str(row["evaluated_at"])}
