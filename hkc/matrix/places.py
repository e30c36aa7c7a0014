"""Places: where the cohort and its periphery are involved in knife-related events.

The input for contextual safeguarding and detached outreach.  A place (``location_id``) earns
``0.5 ** (age_days / half_life_days)`` for each distinct knife-related event there (a weapon-related
catalogue type, or :data:`KNIFE_VICTIM_TYPES`) dated within ``lookback_days`` before ``as_of`` that
involves a cohort member or a listed periphery person in any role, so a place where the cohort is
harmed counts as much as one where they harm.  Places are ranked by that activity, then the latest
event, then ``location_id``; the top ``top_n`` are kept with the peer groups active there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd

from hkc.definitions import Catalogue, PlaceSettings

__all__ = ["rank_places", "knife_related_types", "PLACE_COLUMNS", "KNIFE_VICTIM_TYPES", "MONTHS",
           "PLACE_REASON", "format_day"]

KNIFE_VICTIM_TYPES = ("knife_victim",)
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
PLACE_COLUMNS = ["rank", "location_id", "activity", "events", "people", "cohort_people", "periphery_people",
                 "latest", "peer_groups", "reason"]
PLACE_REASON = "{events} involving {who}, latest {latest}"


def format_day(day: dt.date) -> str:
    """``7 March 2026``: English month names whatever the locale."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def knife_related_types(catalogue: Catalogue) -> list[str]:
    """Weapon-related catalogue types and knife victimisation, in catalogue order."""
    return [code for code, ind in catalogue.indicators.items() if ind.weapon or code in KNIFE_VICTIM_TYPES]


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


def _reason(row) -> str:
    who = [_plural(row.cohort_people, "cohort member")] if row.cohort_people else []
    if row.periphery_people:
        who.append(_plural(row.periphery_people, "periphery person", "periphery people"))
    text = PLACE_REASON.format(events=_plural(row.events, "knife-related event"), who=" and ".join(who),
                               latest=format_day(pd.Timestamp(row.latest).date()))
    return text + (f"; peer groups {row.peer_groups.replace(';', ', ')}" if ";" in row.peer_groups else
                   f"; peer group {row.peer_groups}" if row.peer_groups else "")


def rank_places(events: pd.DataFrame, *, cohort_ids: Collection[str], periphery_ids: Collection[str],
                peer_group_of: Mapping[str, str], settings: PlaceSettings, catalogue: Catalogue,
                as_of: dt.date) -> pd.DataFrame:
    """The ``top_n`` places by recency-weighted knife-related activity of the cohort and periphery.

    ``peer_group_of`` maps a person id to their peer group label (people in no group are absent).
    Returns :data:`PLACE_COLUMNS`; ``latest`` is a ``datetime64[s]``, ``peer_groups`` is
    ``;``-joined in label order.
    """
    cohort = set(map(str, cohort_ids))
    periphery = set(map(str, periphery_ids)) - cohort
    day = np.asarray(events["date"]).astype("datetime64[s]").astype("datetime64[D]").astype(np.int64)
    age = int(np.datetime64(as_of.isoformat(), "D").astype(np.int64)) - day
    location = events["location_id"]
    keep = ((age >= 0) & (age <= settings.lookback_days) & location.notna().to_numpy()
            & events["type"].isin(knife_related_types(catalogue)).to_numpy()
            & events["person_id"].isin(cohort | periphery).to_numpy())
    keep &= (location.astype(str).str.strip() != "").to_numpy()
    rows = pd.DataFrame({"location_id": location[keep].astype(str).to_numpy(),
                         "event_id": events["event_id"][keep].astype(str).to_numpy(),
                         "person_id": events["person_id"][keep].astype(str).to_numpy(), "age": age[keep]})
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in PLACE_COLUMNS})
    rows["in_cohort"] = rows["person_id"].isin(cohort)
    rows["peer_group"] = rows["person_id"].map(peer_group_of).astype(object).fillna("")
    # One term per distinct event at a place (its latest row), summed in a fixed order.
    distinct = (rows.groupby(["location_id", "event_id"])["age"].min().reset_index()
                .sort_values(["location_id", "age", "event_id"], kind="stable"))
    distinct["recency"] = np.power(0.5, distinct["age"].to_numpy() / settings.half_life_days)
    place = distinct.groupby("location_id").agg(activity=("recency", "sum"), events=("event_id", "size"),
                                                youngest=("age", "min"))
    who = rows.drop_duplicates(["location_id", "person_id"])
    place = place.join(who.groupby("location_id").agg(people=("person_id", "size"),
                                                      cohort_people=("in_cohort", "sum")))
    place["periphery_people"] = place["people"] - place["cohort_people"]
    labels = who.loc[who["peer_group"] != "", ["location_id", "peer_group"]].drop_duplicates()
    place["peer_groups"] = (labels.sort_values("peer_group").groupby("location_id")["peer_group"]
                            .agg(";".join)).reindex(place.index).fillna("")
    place = place.reset_index()
    place["activity"] = place["activity"].round(6)
    place = place.sort_values(["activity", "youngest", "location_id"], ascending=[False, True, True],
                              kind="stable").head(settings.top_n).reset_index(drop=True)
    place["latest"] = (int(np.datetime64(as_of.isoformat(), "D").astype(np.int64)) - place["youngest"].to_numpy()
                       ).astype("datetime64[D]").astype("datetime64[s]")
    place["rank"] = np.arange(1, len(place) + 1)
    for col in ("events", "people", "cohort_people", "periphery_people"):
        place[col] = place[col].astype(np.int64)
    place["reason"] = [_reason(r) for r in place.itertuples(index=False)]
    return place[PLACE_COLUMNS]
