"""The evaluation panel built from the history and an extract: who was ranked at each stored run,
and what the extract records of them in the window before and after.

Why: the designs (:mod:`hkc.evaluation.panel`) read one row per (person, cohort quarter); the
history holds who was eligible, listed and at which rank and score at each run, and only a later
extract holds what happened next.  :func:`build_panel` joins the two.  Where each column comes from:

* **who** — every person *eligible* at the stored run, listed or not, and (``below_floor``, on by
  default) everyone who met every eligibility rule but the minimum risk score (their stored reason
  is the score rule's).  Without them a list whose cap is not reached has no one ranked below the
  cut-off at all, because the score floor and the list's cut-off are then the same rule.  The
  ``eligible`` column tells the two apart.
* **listed, score, rank** — from the run (``in_cohort``, ``risk_score``).  Ranks are renumbered
  within the panel: the listed in their stored order (1..N), then the others by score, the latest
  weapon-related event (recent first; read from the extract) and id, as the list breaks ties.
* **cutoff** — the rule of ``[cohort]`` in the settings given: the score of the last listed person
  when the list is full (``size`` reached, or ``top_n``), else ``min_score`` (never below the
  eligibility floor).  When a run's list contradicts that rule (the settings changed since), the
  score of its last listed person is used and a warning says so.
* **identity** — stored ids are followed through the extract's ``aliases`` file (``old_id,
  new_id``: re-keys and merges); a person the extract no longer holds is left out, and counted.
* **outcomes** — events of the ``[outcome]`` types in its roles, counted (not flagged) in the
  window before the cohort date ``(c - window, c]`` and after it ``(c, c + window]``, and the
  secondary outcomes of :data:`SECONDARY` the same way.  The indicator counts ``n_<type>`` are the
  risk-axis events in the window before, for matching.
* **exposure** — the years each window really covers: the window before starts no earlier than
  the person's 10th birthday (the age of criminal responsibility) and the extract's first event;
  the window after ends at the extract's end (and at ``age_limit`` when the extract stops holding
  people at an age).  Events outside the exposure are not counted.
* **treated** — listed at the cohort date, with an intervention from the history's record that was
  not declined or not reached starting in the :data:`UPTAKE_DAYS` after it (the meeting acting on
  this listing); with no interventions recorded, treated is listed (said in the warnings).  An
  intervention that starts later, or for someone not listed then, is not this listing's treatment:
  it mostly follows a later listing, which itself follows what happened in the window, so counting
  it would blame (or credit) the programme for the very offending that led to it.  On the synthetic
  force with a planted effect, counting every intervention in the window made the
  difference-in-differences for the treated show harm (+69% on average where the truth was −20%).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hkc.dates import parse_day, quarter_end, quarter_ends
from hkc.definitions import CohortSettings, Definitions
from hkc.errors import HkcError
from hkc.extract import Extract
from hkc.history import HistoryStore, StoredRun, stored_interventions

__all__ = ["Outcome", "SECONDARY", "YEAR_DAYS", "MIN_RECORDED_AGE", "NOT_RECEIVED", "LOW_SCORE", "build_panel",
           "parse_cohorts", "read_aliases", "extract_aliases", "resolve_ids", "main_outcome", "cohort_cutoff",
           "outcome_events", "count_between"]

YEAR_DAYS = 365.25
MIN_RECORDED_AGE = 10          # England and Wales: no offence is recorded before a child's 10th birthday
NOT_RECEIVED = ("declined", "not_reached")   # engagement codes that mean the intervention was not received
MAX_COHORTS = 40
# the stored reason of a person who met every eligibility rule but the minimum risk score
# (hkc.matrix.scoring.REASONS["low_score"]; tests/test_evaluate.py holds the two together)
LOW_SCORE = re.compile(r"^risk score \S+ is \S+ points? below the minimum \S+$")
EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Outcome:
    """One outcome: the panel columns ``pre_<name>``/``post_<name>``, counting ``types`` in ``roles``."""

    name: str
    words: str
    types: tuple[str, ...]
    roles: tuple[str, ...]

    def describe(self) -> dict:
        return {"column": self.name, "words": self.words, "types": list(self.types), "roles": list(self.roles)}


# The secondary outcomes (issue 13) and the catalogue codes behind each; a code the catalogue lacks is skipped.
SECONDARY = (
    Outcome("violence", "any violence as offender or suspect", ("knife_violence", "violence", "robbery"),
            ("offender", "suspect")),
    Outcome("knife_victim", "knife victimisation", ("knife_victim",), ("victim",)),
    Outcome("missing", "missing episodes", ("missing_episode",), ("subject",)),
    Outcome("exclusions", "school exclusions", ("exclusion",), ("subject",)),
)


def main_outcome(definitions: Definitions) -> Outcome:
    """The ``[outcome]`` of the settings as the panel's ``events`` columns."""
    o = definitions.settings.outcome
    words = ("knife offending" if set(o.types) <= {"knife_possession", "knife_violence"} else
             f"{' or '.join(o.types).replace('_', ' ')} events")
    return Outcome("events", words, tuple(o.types), tuple(o.roles))


def _day(value: dt.date) -> int:
    return (value - EPOCH).days


def parse_cohorts(text: str) -> list[dt.date]:
    """``2025Q1`` (one quarter), ``2025Q1..2025Q4`` (every quarter end from the first to the last) or
    a date; raises :class:`~hkc.errors.HkcError` with one line otherwise."""
    parts = [p.strip() for p in str(text).split("..")]
    example = "give one quarter (2025Q1) or a range (2025Q1..2025Q4)"
    if len(parts) > 2 or not all(parts):
        raise HkcError(f"--cohorts {text!r}: {example}")
    try:
        days = [parse_day(p) for p in parts]
    except ValueError as exc:
        raise HkcError(f"--cohorts: {exc}; {example}") from None
    if len(days) == 1:
        return days
    if days[1] < days[0]:
        raise HkcError(f"--cohorts {text!r}: the last quarter is before the first")
    ends = quarter_ends(days[0], days[1])
    if not ends:
        raise HkcError(f"--cohorts {text!r}: no quarter ends between {days[0]} and {days[1]}")
    if len(ends) > MAX_COHORTS:
        raise HkcError(f"--cohorts {text!r}: {len(ends)} quarters; at most {MAX_COHORTS}")
    if days[0] != quarter_end(days[0]):
        ends = [d for d in ends if d >= days[0]]
    return ends


def read_aliases(data_dir: str | Path) -> dict[str, str]:
    """``{old_id: new_id}`` from the extract's ``aliases.csv`` or ``aliases.parquet`` (none: empty)."""
    folder = Path(data_dir)
    for path in (folder / "aliases.csv", folder / "aliases.parquet"):
        if not path.is_file():
            continue
        try:
            frame = (pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
                     if path.suffix == ".csv" else pd.read_parquet(path).astype(str))
        except (OSError, ValueError) as exc:
            raise HkcError(f"{path}: cannot be read ({str(exc).splitlines()[0]})") from None
        frame.columns = [str(c).strip().lower() for c in frame.columns]
        if not {"old_id", "new_id"} <= set(frame.columns):
            raise HkcError(f"{path}: needs the columns old_id and new_id")
        pairs = frame[["old_id", "new_id"]].apply(lambda s: s.str.strip())
        pairs = pairs[(pairs["old_id"] != "") & (pairs["new_id"] != "") & (pairs["old_id"] != pairs["new_id"])]
        return dict(zip(pairs["old_id"], pairs["new_id"], strict=True))
    return {}


def extract_aliases(extract: Extract) -> dict[str, str]:
    """``{old_id: new_id}`` of an extract: the loader's checked ``aliases`` rows when it reads the file,
    else the file in the extract's folder (:func:`read_aliases`)."""
    frame = getattr(extract, "aliases", None)
    if isinstance(frame, pd.DataFrame):
        return dict(zip(frame["old_id"].astype(str), frame["new_id"].astype(str), strict=True))
    folder = Path(next(iter(extract.files.values()))).parent if extract.files else None
    return read_aliases(folder) if folder is not None else {}


def resolve_ids(ids: Sequence[str], known: set[str], aliases: Mapping[str, str]) -> list[str | None]:
    """Each id as the extract knows it: itself, or where its aliases lead (chains followed); None if lost."""
    out = []
    for pid in ids:
        current, seen = str(pid), set()
        while current not in known and current in aliases and current not in seen:
            seen.add(current)
            current = aliases[current]
        out.append(current if current in known else None)
    return out


def cohort_cutoff(scores: np.ndarray, listed: np.ndarray, cohort: CohortSettings,
                  floor: float) -> tuple[float, bool]:
    """The cut-off score of one run's list and whether the list agrees with the rule.

    A full list (``top_n``, or ``threshold_capped`` with ``size`` listed) is cut at the score of its
    last listed person, and no one left off may score above it (a tie lost on the tie-break may
    equal it); otherwise the cut-off is ``min_score`` (never below the eligibility ``floor``), every
    listed person at or above it and everyone else below.  A list that breaks its rule is cut at
    the score of its last listed person, and ``False`` says so.
    """
    scores, listed = np.asarray(scores, dtype=float), np.asarray(listed, dtype=bool)
    threshold = max(float(cohort.min_score), float(floor))
    others = scores[~listed]
    if not listed.any():
        return threshold, not (others >= threshold).any()
    last = float(scores[listed].min())
    full = cohort.method == "top_n" or (cohort.method == "threshold_capped" and listed.sum() >= cohort.size)
    if full:
        return last, bool((others <= last).all())
    agrees = bool((scores[listed] >= threshold).all() and (others < threshold).all())
    return (threshold, True) if agrees else (last, False)


def _birthdays(dob_days: np.ndarray, years: float) -> np.ndarray:
    """Day numbers of the birthday at ``years`` (29 February falls on 1 March)."""
    out = np.empty(len(dob_days), dtype=np.int64)
    for i, day in enumerate(dob_days.tolist()):
        born = EPOCH + dt.timedelta(days=int(day))
        year = born.year + int(years)
        try:
            out[i] = _day(born.replace(year=year))
        except ValueError:
            out[i] = _day(dt.date(year, 3, 1))
    return out


def outcome_events(extract: Extract, types: Sequence[str], roles: Sequence[str]) -> pd.DataFrame:
    """``person_idx, day`` of the extract's events of ``types`` in ``roles``."""
    ev = extract.events
    hit = ev["type"].astype(str).isin(types).to_numpy() & ev["role"].astype(str).isin(roles).to_numpy()
    days = (ev.loc[hit, "date"].to_numpy().astype("datetime64[D]").astype(np.int64))
    return pd.DataFrame({"person_idx": ev.loc[hit, "person_idx"].to_numpy(), "day": days})


def count_between(rows: pd.DataFrame, events: pd.DataFrame, low: str, high: str) -> np.ndarray:
    """Per row of ``rows`` (``person_idx`` and day columns ``low``, ``high``): events with low < day <= high."""
    if events.empty or rows.empty:
        return np.zeros(len(rows), dtype=np.int64)
    joined = rows[["person_idx", low, high]].reset_index(drop=True).rename_axis("row").reset_index() \
        .merge(events, on="person_idx")
    inside = (joined["day"] > joined[low]) & (joined["day"] <= joined[high])
    return np.bincount(joined.loc[inside, "row"].to_numpy(), minlength=len(rows)).astype(np.int64)


def _latest_weapon(rows: pd.DataFrame, extract: Extract, definitions: Definitions) -> np.ndarray:
    """Day of each row's latest weapon-related risk event on or before the cohort date (-1: none)."""
    weapon = [c for c, i in definitions.catalogue.indicators.items() if i.weapon and i.axis == "risk"]
    roles = sorted({r for c in weapon for r in definitions.catalogue.indicators[c].roles})
    events = outcome_events(extract, weapon, roles)
    joined = rows[["person_idx", "c"]].reset_index(drop=True).rename_axis("row").reset_index() \
        .merge(events, on="person_idx")
    joined = joined[joined["day"] <= joined["c"]]
    latest = np.full(len(rows), -1, dtype=np.int64)
    np.maximum.at(latest, joined["row"].to_numpy(), joined["day"].to_numpy())
    return latest


def _stored_rows(store: HistoryStore, run: StoredRun, definitions: Definitions, below_floor: bool,
                 warnings: list[str]) -> pd.DataFrame:
    """The run's panel people as stored: ``history_id, listed, score, stored_rank, eligible, cutoff``."""
    s = store.person_scores(run.run_id)
    eligible = s["eligible"].astype(bool)
    listed = s["in_cohort"].astype(bool)
    low = ~eligible & s["reason"].fillna("").astype(str).str.match(LOW_SCORE) if below_floor else eligible & False
    s = s[eligible | listed | low]
    settings = definitions.settings
    cutoff, agrees = cohort_cutoff(s["risk_score"].to_numpy(), s["in_cohort"].to_numpy(dtype=bool), settings.cohort,
                                   settings.eligibility.min_risk_score)
    if not agrees:
        warnings.append(f"The list of {run.as_of} does not follow today's [cohort] rule "
                        f"({settings.cohort.describe()}): its cut-off is taken as the score of its last listed "
                        f"person, {cutoff:g}.")
    return pd.DataFrame({"history_id": s["person_id"].astype(str).to_numpy(),
                         "listed": s["in_cohort"].astype(bool).to_numpy(),
                         "score": s["risk_score"].astype(float).to_numpy(),
                         "stored_rank": pd.to_numeric(s["rank"], errors="coerce").to_numpy(dtype=float),
                         "eligible": s["eligible"].astype(bool).to_numpy(), "cutoff": cutoff, "cohort": run.as_of})


def _identify(rows: pd.DataFrame, extract: Extract, aliases: Mapping[str, str]) -> tuple[pd.DataFrame, int, int, int]:
    """Rows with the extract's ``person_id`` and ``person_idx``; returns (rows, lost, lost listed, merged)."""
    people = extract.people
    index = pd.Series(people["person_idx"].to_numpy(), index=people["person_id"].astype(str).to_numpy())
    current = resolve_ids(rows["history_id"].tolist(), set(index.index), aliases)
    rows = rows.assign(person_id=current)
    lost = rows["person_id"].isna()
    lost_n, lost_listed = int(lost.sum()), int((lost & rows["listed"]).sum())
    rows = rows[~lost].copy()
    rows["person_idx"] = index.loc[rows["person_id"]].to_numpy()
    # two stored records merged into one person: keep the listed, then the higher-scored, record
    rows = rows.sort_values(["cohort", "person_id", "listed", "score"], ascending=[True, True, False, False],
                            kind="stable")
    merged = rows.duplicated(["cohort", "person_id"])
    return rows[~merged].reset_index(drop=True), lost_n, lost_listed, int(merged.sum())


def _ranks(rows: pd.DataFrame) -> np.ndarray:
    """Ranks within one cohort: the listed in stored order (1..N), then the rest as the list breaks ties."""
    listed = rows["listed"].to_numpy()
    key_rank = np.where(listed, np.nan_to_num(rows["stored_rank"].to_numpy(), nan=np.inf), np.inf)
    order = np.lexsort((rows["person_id"].to_numpy().astype(str), -rows["_latest"].to_numpy(),
                        -rows["score"].to_numpy(), key_rank, ~listed))
    rank = np.empty(len(rows), dtype=np.int64)
    rank[order] = np.arange(1, len(rows) + 1)
    return rank


UPTAKE_DAYS = 92   # an intervention starting within a quarter of the listing is the meeting acting on it


def _treated(rows: pd.DataFrame, interventions: pd.DataFrame, known: set[str], aliases: Mapping[str, str],
             window_days: int) -> np.ndarray:
    """Whether an intervention (received) starts in ``(c, c + window]`` for each row."""
    if interventions.empty:
        return np.zeros(len(rows), dtype=bool)
    given = interventions[~interventions["engagement"].astype(str).isin(NOT_RECEIVED)]
    given = given.assign(person_id=resolve_ids(given["person_id"].astype(str).tolist(), known, aliases)).dropna(
        subset=["person_id"])
    start = pd.to_datetime(given["start_date"]).dt.date.map(_day)
    starts = pd.DataFrame({"person_id": given["person_id"].to_numpy(), "start": start.to_numpy(dtype=np.int64)})
    joined = rows[["person_id", "c"]].reset_index(drop=True).rename_axis("row").reset_index() \
        .merge(starts, on="person_id")
    hit = (joined["start"] > joined["c"]) & (joined["start"] <= joined["c"] + window_days)
    out = np.zeros(len(rows), dtype=bool)
    out[joined.loc[hit, "row"].to_numpy()] = True
    return out


def build_panel(store: HistoryStore, extract: Extract, *, definitions: Definitions, cohorts: Sequence[dt.date],
                window_days: int, interventions: pd.DataFrame | None = None, aliases: Mapping[str, str] | None = None,
                extract_end: dt.date | None = None, age_limit: float | None = None,
                below_floor: bool = True) -> pd.DataFrame:
    """One row per (person, cohort quarter) for every person ranked at each stored run (see the module docstring).

    ``cohorts`` must be stored runs' as-of dates (:meth:`HistoryStore.find_run` says which are).
    ``interventions``: the record to read (default: the history's own, :func:`hkc.history.stored_interventions`;
    an empty frame: none).  ``aliases``: ``{old_id: new_id}`` (default: the extract's, :func:`extract_aliases`).
    ``extract_end``: the last day the extract covers (default: its latest event).  ``age_limit``: the
    age at which the extract stops holding people (default: none).  The frame carries
    ``attrs["warnings"]`` (sentences a reader must see) and ``attrs["outcomes"]`` (the outcome
    definitions counted).
    """
    warnings: list[str] = []
    aliases = extract_aliases(extract) if aliases is None else dict(aliases)
    runs = [store.find_run(c) for c in cohorts]
    stored = pd.concat([_stored_rows(store, r, definitions, below_floor, warnings) for r in runs], ignore_index=True)
    rows, lost, lost_listed, merged = _identify(stored, extract, aliases)
    if rows.empty:
        raise HkcError(f"the extract and the history do not overlap: none of the {len(stored)} people ranked at "
                       f"{', '.join(str(c) for c in sorted(set(cohorts)))} ({int(stored['listed'].sum())} of them "
                       "listed) is in the extract (is it this force's extract?)")
    if lost:
        warnings.append(f"{lost} of {len(stored)} ranked records ({lost_listed} of them listed) are not in the extract "
                        "(an id change its aliases file does not announce, a deleted record, or a person it no longer "
                        "holds) and are left out.")
    if merged:
        warnings.append(f"{merged} ranked record(s) were merged into another person in the same quarter; each person "
                        "is counted once, with their listed (or higher-scored) record.")
    dates = extract.events["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    first = int(dates.min()) if len(dates) else None
    end = _day(extract_end) if extract_end is not None else (int(dates.max()) if len(dates) else None)
    if first is None or end is None:
        raise HkcError("the extract holds no events: there is nothing to evaluate")
    floor_rows = int((~rows["eligible"]).sum())
    if floor_rows:
        warnings.append(f"{floor_rows} row(s) are people who met every eligibility rule but the minimum risk score "
                        f"({definitions.settings.eligibility.min_risk_score:g}): they are ranked below everyone eligible "
                        "and are the near miss and the left side of the discontinuity wherever the list is not full.")
    rows["c"] = rows["cohort"].map(_day).astype(np.int64)
    dob = extract.people["date_of_birth"].to_numpy().astype("datetime64[D]").astype(np.int64)[rows["person_idx"]]
    rows["pre_low"] = np.maximum.reduce([rows["c"].to_numpy() - window_days, np.full(len(rows), first - 1),
                                         _birthdays(dob, MIN_RECORDED_AGE) - 1])
    post_high = np.minimum(rows["c"].to_numpy() + window_days, end)
    if age_limit is not None:
        post_high = np.minimum(post_high, _birthdays(dob, age_limit) - 1)
    rows["post_high"] = post_high
    rows["pre_years"] = np.maximum(rows["c"] - rows["pre_low"], 0) / YEAR_DAYS
    rows["post_years"] = np.maximum(rows["post_high"] - rows["c"], 0) / YEAR_DAYS
    born = pd.to_datetime(extract.people["date_of_birth"].to_numpy()[rows["person_idx"].to_numpy()])
    rows["age"] = _ages(born, pd.to_datetime(rows["cohort"].astype(str)))
    rows["sex"] = extract.people["sex"].astype(str).to_numpy()[rows["person_idx"].to_numpy()]
    catalogue = definitions.catalogue.indicators
    outcomes = [main_outcome(definitions)]
    for o in SECONDARY:
        present = tuple(t for t in o.types if t in catalogue)
        if present:
            outcomes.append(Outcome(o.name, o.words, present, o.roles))
    for o in outcomes:
        events = outcome_events(extract, o.types, o.roles)
        rows[f"pre_{o.name}"] = count_between(rows, events, "pre_low", "c")
        rows[f"post_{o.name}"] = count_between(rows, events, "c", "post_high")
    for code, indicator in catalogue.items():
        if indicator.axis == "risk":
            rows[f"n_{code}"] = count_between(rows, outcome_events(extract, (code,), indicator.roles), "pre_low", "c")
    rows["_latest"] = _latest_weapon(rows, extract, definitions)
    rows["rank"] = 0
    for _cohort, part in rows.groupby("cohort", sort=True):
        rows.loc[part.index, "rank"] = _ranks(part)
    record = stored_interventions(store) if interventions is None else interventions
    known = set(extract.people["person_id"].astype(str))
    if record is None or record.empty:
        rows["treated"] = rows["listed"]
        warnings.append("No interventions are recorded in the history (hkc interventions import), so only the effect "
                        "of being listed (intention to treat) is estimated: 'treated' is taken to be everyone listed.")
    else:
        received = _treated(rows, record, known, aliases, window_days)
        rows["treated"] = rows["listed"].to_numpy(bool) & _treated(rows, record, known, aliases,
                                                                    min(window_days, UPTAKE_DAYS))
        later = int((received & ~rows["treated"].to_numpy(bool)).sum())
        if later:
            warnings.append(f"{later} row(s) record an intervention in the window after the cohort date that is not "
                            f"counted as treatment: it started more than {UPTAKE_DAYS} days after the cohort date or "
                            "the person was not listed then. Such an intervention mostly follows a later listing, "
                            "which follows what happened in the window; counting it would blame or credit the "
                            "programme for the offending that led to it.")
        if not rows["treated"].any():
            warnings.append("Interventions are recorded, but none received in the window after any of these cohort "
                            "dates: treatment on the treated cannot be estimated.")
    rows["window_start"] = (rows["pre_low"] + 1).map(lambda d: EPOCH + dt.timedelta(days=int(d)))
    rows["window_end"] = rows["post_high"].map(lambda d: EPOCH + dt.timedelta(days=int(d)))
    columns = ["person_id", "history_id", "cohort", "listed", "eligible", "rank", "score", "cutoff", "age", "sex",
               "treated", "pre_years", "post_years", "window_start", "window_end",
               *[f"{w}_{o.name}" for o in outcomes for w in ("pre", "post")], *[c for c in rows if c.startswith("n_")]]
    panel = rows[columns].sort_values(["cohort", "rank"], kind="stable").reset_index(drop=True)
    panel.attrs["warnings"] = warnings
    panel.attrs["outcomes"] = [o.describe() for o in outcomes]
    return panel


def _ages(born: pd.DatetimeIndex, on: pd.Series) -> np.ndarray:
    """Whole years of age on each date."""
    on_y, on_m, on_d = on.dt.year.to_numpy(), on.dt.month.to_numpy(), on.dt.day.to_numpy()
    before = (on_m < born.month.to_numpy()) | ((on_m == born.month.to_numpy()) & (on_d < born.day.to_numpy()))
    return (on_y - born.year.to_numpy() - before).astype(np.int64)
