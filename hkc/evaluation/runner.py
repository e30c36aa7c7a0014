"""``hkc evaluate``: check the inputs, build the panel, run the designs, write the three files.

Why the checks come first: an evaluation that quietly drops a cohort, or reads an extract that
ends before the outcome window does, gives a figure that looks like a finding and is not.  So,
before anything is written, it refuses with one line (an :class:`~hkc.errors.HkcError`, exit
code 2) when the history holds no runs, a cohort quarter is not a stored run (the stored ones are
named), the extract ends too early to see ``window_days`` after the last cohort (both dates are
named), or the extract and the history do not overlap (the extract ends before the cohorts, holds
nothing before them, or holds none of the listed people).  The output folder is checked before any
work and written in one swap (:func:`hkc.outputs.atomic_folder`), so a refused or failed run leaves
no folder behind.  The history is only read, until the folder is written: then the evaluation's
aggregate figures (no person) are kept in it, so the next refresh's pack can say what it found.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hkc import __version__
from hkc.definitions import Definitions
from hkc.errors import HkcError
from hkc.evaluation.build import build_panel, main_outcome
from hkc.evaluation.evaluate import DESIGNS, evaluate_panel
from hkc.evaluation.event_study import event_study
from hkc.evaluation.panel import near_miss
from hkc.evaluation.report import write_evaluation
from hkc.extract import load_extract
from hkc.history import database_file, open_store, record_evaluation
from hkc.outputs import atomic_folder, check_output_folder, private_files

__all__ = ["run_evaluation", "TOO_SHORT", "NOT_STORED", "NO_OVERLAP"]

TOO_SHORT = ("the extract ends on {end} ({source}); --window {window} days after the last cohort {last} needs it to "
             "reach {needed}: choose earlier cohorts, a shorter --window, or a later extract")
NOT_STORED = ("--cohorts: {missing} {verb} not a stored run in {url}; stored runs: {stored}")
NO_OVERLAP = "the extract and the history do not overlap: {why}"
SCHEMA = "hkc.evaluation/1"


def _source(extract_date: dt.date | None) -> str:
    return ("its --extract-date" if extract_date is not None else
            "the date of its latest event; pass --extract-date if it was taken later")


def _check_span(first_event: dt.date | None, end: dt.date, cohorts: Sequence[dt.date], window_days: int,
                extract_date: dt.date | None) -> None:
    """Refuse an extract that does not cover the cohorts and the window after the last one."""
    first, last = min(cohorts), max(cohorts)
    if end < first:
        raise HkcError(NO_OVERLAP.format(why=f"the extract ends on {end} ({_source(extract_date)}), before the "
                                             f"first cohort date {first}"))
    if first_event is not None and first_event > first:
        raise HkcError(NO_OVERLAP.format(why=f"the extract's first event is on {first_event}, after the first cohort "
                                             f"date {first}: it holds nothing from before the cohorts"))
    needed = last + dt.timedelta(days=window_days)
    if end < needed:
        raise HkcError(TOO_SHORT.format(end=end, source=_source(extract_date), window=window_days, last=last,
                                        needed=needed))


def _panel_summary(panel, width: float) -> list[dict[str, Any]]:
    """Per cohort: people in the panel, listed, treated, near miss, eligible and not listed, below the score floor."""
    comparison = near_miss(panel, "listed", width=width)
    out = []
    for cohort, rows in panel.groupby("cohort", sort=True):
        out.append({"cohort": str(cohort), "cutoff": float(rows["cutoff"].iloc[0]), "people": int(len(rows)),
                    "listed": int(rows["listed"].sum()), "treated": int(rows["treated"].sum()),
                    "near_miss": int((comparison["cohort"] == cohort).sum()),
                    "eligible_not_listed": int((rows["eligible"] & ~rows["listed"]).sum()),
                    "below_score_floor": int((~rows["eligible"]).sum())})
    return out


def _settings_warning(stored, cohorts: Sequence[dt.date]) -> list[str]:
    """A sentence when the cohorts' runs were made under different settings (their fingerprints differ)."""
    prints = {r.config_sha256 for r in stored if r.as_of in cohorts}
    if len(prints) < 2:
        return []
    return [f"The cohorts' runs were made under {len(prints)} different settings or catalogues; each run's cut-off "
            "is read with today's [cohort] rule, checked against its own list."]


def run_evaluation(data_dir: str | Path, *, cohorts: Sequence[dt.date], window_days: int, out: Path,
                   definitions: Definitions, db_url: str, primary: str = "did_near_miss",
                   extract_date: dt.date | None = None, width: float = 1.0,
                   progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate the stored cohorts ``cohorts`` against the extract in ``data_dir`` and write ``out``.

    Returns the ``evaluation.json`` dictionary.  ``window_days``: the outcome window before and after
    each cohort date; ``primary``: the design the verdict leads with; ``extract_date``: the day the
    extract was taken (default: its latest event); ``width``: the near-miss width (1: ranks N+1..2N).
    """
    say = progress or (lambda _m: None)
    cohorts = sorted(set(cohorts))
    if not cohorts:
        raise HkcError("--cohorts: no cohort quarter given")
    if window_days < 1:
        raise HkcError(f"--window {window_days}: must be at least 1 day")
    if primary not in DESIGNS or primary == "naive_prepost":
        raise HkcError(f"--primary {primary}: choose one of {', '.join(d for d in DESIGNS if d != 'naive_prepost')} "
                       "(the naive before/after is not an effect estimate)")
    check_output_folder(out, inputs=[Path(data_dir)], database=database_file(db_url))
    store = open_store(db_url, create=False)
    stored = store.list_runs()
    if not stored:
        raise HkcError(f"history database {store.url} holds no runs: there is nothing to evaluate; run `hkc refresh` "
                       "at each cohort quarter first")
    missing = [c for c in cohorts if c not in {r.as_of for r in stored}]
    if missing:
        raise HkcError(NOT_STORED.format(missing=", ".join(map(str, missing)), verb="is" if len(missing) == 1 else "are",
                                         url=store.url, stored=", ".join(str(r.as_of) for r in stored)))
    if extract_date is not None:
        _check_span(None, extract_date, cohorts, window_days, extract_date)
    say(f"loading the extract {data_dir}")
    extract = load_extract(data_dir, catalogue=definitions.catalogue, extract_date=extract_date, progress=say)
    days = extract.events["date"].to_numpy()
    if not len(days):
        raise HkcError(NO_OVERLAP.format(why="the extract holds no events"))
    first_event = dt.date.fromisoformat(str(np.datetime_as_string(days.min(), unit="D")))
    end = extract_date or dt.date.fromisoformat(str(np.datetime_as_string(days.max(), unit="D")))
    _check_span(first_event, end, cohorts, window_days, extract_date)
    say(f"building the panel: {len(cohorts)} cohort(s), {window_days} days before and after")
    panel = build_panel(store, extract, definitions=definitions, cohorts=cohorts, window_days=window_days,
                        extract_end=end)
    if not panel["listed"].any():
        listed = sum(r.cohort_size for r in stored if r.as_of in cohorts)
        raise HkcError(NO_OVERLAP.format(why=f"none of the {listed} people listed at {', '.join(map(str, cohorts))} is "
                                             "in the extract (is it this force's extract?)"))
    outcome = main_outcome(definitions)
    say("running the designs (naive before/after, difference-in-differences, matched, regression discontinuity)")
    result = evaluate_panel(panel, primary=primary, outcome_words=outcome.words, window_days=window_days, width=width)
    result.update(
        schema=SCHEMA, outcome=outcome.describe(), outcomes=panel.attrs["outcomes"],
        warnings=[*panel.attrs["warnings"], *_settings_warning(stored, cohorts), *result["warnings"]],
        event_study=event_study(panel, extract, outcome=outcome, window_days=window_days, width=width),
        panel=_panel_summary(panel, width),
        extract={"folder": str(Path(data_dir).resolve()), "folder_name": Path(data_dir).name,
                 "first_event": first_event.isoformat(), "end": end.isoformat(),
                 "end_from": "--extract-date" if extract_date is not None else "latest event",
                 "sha256": dict(extract.sha256)},
        history={"database": store.url, "runs": [{"as_of": r.as_of.isoformat(), "run_id": r.run_id,
                                                  "cohort_size": r.cohort_size, "eligible": r.eligible,
                                                  "config_sha256": r.config_sha256}
                                                 for r in stored if r.as_of in cohorts]},
        provenance={"hkc_version": __version__, "created_at": dt.datetime.now(dt.UTC).isoformat(
            timespec="seconds")})
    marking = getattr(definitions.settings.outputs, "protective_marking", "OFFICIAL-SENSITIVE")  # [outputs] setting
    with private_files(group_readable=definitions.settings.outputs.group_readable), atomic_folder(out) as folder:
        write_evaluation(result, folder, marking=marking)
    record_evaluation(store, result)
    return result
