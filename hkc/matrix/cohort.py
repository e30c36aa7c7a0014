"""The ranked cohort: who is listed, in what order, with which RAG band, and what moved.

Ranking is deterministic: risk score (high first), then the most recent weapon-related event
(recent first), then ``person_id`` — so shuffling the extract never changes a rank.  The cut-off
(``[cohort]`` in ``config/hkc.toml``): ``threshold_capped`` (the default) lists every eligible
person at or above ``min_score``, at most ``size`` of them, so fewer than ``size`` are listed
when fewer qualify; ``top_n`` lists the ``size`` highest; ``threshold`` everyone at or above
``min_score``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hkc.definitions import CohortSettings, RagSettings, VulnerabilitySettings
from hkc.matrix.scoring import format_points

__all__ = ["Cohort", "select_cohort", "rag_bands", "rag_level", "vulnerability_bands", "movement", "removed_people",
           "cut_off_reason", "RAG_ORDER", "MOVEMENTS", "CUT_OFF"]

RAG_ORDER = {"green": 1, "amber": 2, "red": 3}
MOVEMENTS = ("new", "up", "down", "same")
CUT_OFF = {  # why an eligible person is not listed
    "rank": "still eligible but below the cohort cut-off (rank {rank}; cohort is top {size})",
    "score": ("still eligible but below the cohort cut-off (risk score {score} is {gap} points below the cohort "
              "minimum {minimum})"),
}


@dataclass
class Cohort:
    """``members``: the listed people in rank order (``rank`` 1..n, ``rag``).

    ``ranked``: every eligible person with ``priority_rank`` (1 = highest), listed or not.
    """

    members: pd.DataFrame
    ranked: pd.DataFrame


def rag_level(rag: pd.Series) -> np.ndarray:
    """1 for green, 2 amber, 3 red, NaN for none — comparable numbers for RAG movement."""
    return rag.astype(object).map(RAG_ORDER).to_numpy(dtype=float)


def rag_bands(scores: np.ndarray, *, settings: RagSettings) -> np.ndarray:
    """RAG band for each cohort member; ``scores`` must be in rank order."""
    n = len(scores)
    if settings.method == "fixed":
        return np.where(scores >= settings.red, "red", np.where(scores >= settings.amber, "amber", "green"))
    # round before the ceiling so 0.1 + 0.2 = 0.30000000000000004 does not add a person
    red_n = math.ceil(round(settings.red_share * n, 9))
    amber_n = math.ceil(round((settings.red_share + settings.amber_share) * n, 9)) - red_n
    position = np.arange(n)
    return np.where(position < red_n, "red", np.where(position < red_n + amber_n, "amber", "green"))


def vulnerability_bands(scores: np.ndarray, *, settings: VulnerabilitySettings) -> np.ndarray:
    return np.where(scores >= settings.high, "high", np.where(scores >= settings.medium, "medium", "low"))


def select_cohort(scores: pd.DataFrame, *, cohort: CohortSettings, rag: RagSettings) -> Cohort:
    """Rank eligible people and list them by ``cohort.method``: at or above ``min_score``, at most ``size``."""
    eligible = scores[scores["eligible"]].copy()
    latest = eligible["latest_weapon_date"].astype("datetime64[s]").astype(np.int64)
    order = np.lexsort((eligible["person_id"].to_numpy().astype(str), -latest,
                        -eligible["risk_score"].to_numpy()))
    ranked = eligible.iloc[order].reset_index(drop=True)
    ranked["priority_rank"] = np.arange(1, len(ranked) + 1)
    members = ranked if cohort.method == "top_n" else ranked[ranked["risk_score"] >= cohort.min_score]
    if cohort.method != "threshold":
        members = members.head(cohort.size)
    members = members.copy()
    members["rank"] = members["priority_rank"]
    members["rag"] = rag_bands(members["risk_score"].to_numpy(), settings=rag)
    return Cohort(members=members.reset_index(drop=True), ranked=ranked)


def movement(members: pd.DataFrame, previous: pd.DataFrame | None) -> np.ndarray:
    """``new``, ``up``, ``down`` or ``same`` for each member against the previous cohort.

    RAG decides first (red above amber above green); with the same RAG, a better (smaller) rank
    is ``up``.  With no previous refresh everyone is ``new``.
    """
    if previous is None or previous.empty:
        return np.full(len(members), "new", dtype=object)
    joined = members[["person_id", "rank", "rag"]].merge(previous[["person_id", "rank", "rag"]], on="person_id",
                                                         how="left", suffixes=("", "_prev"))
    now_rag = rag_level(joined["rag"])
    was_rag = rag_level(joined["rag_prev"])
    out = np.where(joined["rag_prev"].isna(), "new",
          np.where(now_rag > was_rag, "up",
          np.where(now_rag < was_rag, "down",
          np.where(joined["rank"] < joined["rank_prev"], "up",
          np.where(joined["rank"] > joined["rank_prev"], "down", "same")))))
    return out.astype(object)


def removed_people(members: pd.DataFrame, previous: pd.DataFrame | None, scores: pd.DataFrame,
                   ranked: pd.DataFrame, *, cohort: CohortSettings) -> pd.DataFrame:
    """Previous cohort members not listed now, each with the reason."""
    columns = ["person_id", "previous_rank", "previous_rag", "risk_score", "vulnerability_score", "reason"]
    if previous is None or previous.empty:
        return pd.DataFrame(columns=columns)
    gone = previous[~previous["person_id"].isin(members["person_id"])]
    now = scores.set_index("person_id")
    ranks = ranked.set_index("person_id")["priority_rank"]
    rows = []
    for person, prev_rank, prev_rag in gone[["person_id", "rank", "rag"]].itertuples(index=False):
        if person not in now.index:
            rows.append((person, prev_rank, prev_rag, None, None, "not in this extract"))
            continue
        r = now.loc[person]
        if r["eligible"]:
            reason = cut_off_reason(int(ranks[person]), float(r["risk_score"]), cohort=cohort)
        else:
            reason = r["reason"]
        rows.append((person, prev_rank, prev_rag, r["risk_score"], r["vulnerability_score"], reason))
    return pd.DataFrame(rows, columns=columns).sort_values("previous_rank", kind="stable").reset_index(drop=True)


def cut_off_reason(rank: int, score: float, *, cohort: CohortSettings) -> str:
    """Why an eligible person at priority ``rank`` with risk ``score`` is not listed, with the amount.

    A score below ``min_score`` is named first (methods ``threshold_capped`` and ``threshold``);
    otherwise the rank beyond ``size``.
    """
    if cohort.method != "top_n" and score < cohort.min_score:
        return CUT_OFF["score"].format(score=format_points(score), gap=format_points(cohort.min_score - score),
                                       minimum=format_points(cohort.min_score))
    return CUT_OFF["rank"].format(rank=rank, size=cohort.size)
