"""``hkc demo``: a synthetic force lives through four quarters, each refreshed from its own extract, then evaluated.

Why this shape: one extract refreshed at two dates hides what real quarters bring — records that
arrive late, people who appear, age out and move, ids the source re-keys, and a list the meeting
acted on.  So the demo runs the quarterly routine on a synthetic force (:func:`hkc.synth.generate_quarters`)
over the last four quarter ends before today:

1. at each quarter end the extract of that date is written (``OUT/extracts/<date>/``) and refreshed
   from itself (``hkc refresh OUT/extracts/<date> --as-of <date> --extract-date <date>``) into
   ``OUT/<date>/`` and the one history ``OUT/history.db``, partner pack on with the labelled demo key;
2. the partnership meeting adopts people from the list that refresh made, and a programme with a
   planted effect (:data:`EFFECT`: a known share of their later knife offending removed for
   :data:`EFFECT_MONTHS` months) acts before the next extract is cut — the force is synthetic, so
   the truth is known (``OUT/extracts/_truth/``);
3. the meeting's record (``OUT/extracts/interventions.csv``) is imported (``hkc interventions
   import``), leaving out first the rows of people the history never scored, since the import takes
   all rows or none;
4. the first two cohort quarters are evaluated against the last extract (``hkc evaluate``) with a
   six-month window (:func:`evaluation_plan` says why) into ``OUT/evaluation/``.

The report (the lines :func:`run_demo` yields) takes its figures from the runs and its sentences on
the evaluation from the evaluation's own verdict, never person-level rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hkc.dates import previous_quarter_end
from hkc.definitions import Definitions, load_definitions
from hkc.errors import HkcError, OutputError
from hkc.evaluation import main_outcome, run_evaluation, signed_percent
from hkc.history import identities, known_person_ids, open_store
from hkc.partnership import InterventionImportError, import_interventions
from hkc.refresh import RefreshResult, run_refresh
from hkc.synth import Effect, generate_quarters, true_effect, write_quarters

__all__ = ["run_demo", "demo_quarters", "earlier_quarters", "evaluation_plan", "QuarterRun", "QUARTERS", "EFFECT",
           "EFFECT_MONTHS", "ADOPT_RATE", "WINDOW_DAYS", "BY", "EARLIER_QUARTERS"]

QUARTERS = 4            # quarter ends the force lives through
EFFECT = 0.3            # share of an adopted person's knife offending the planted programme removes
EFFECT_MONTHS = 12      # for this many months after adoption
ADOPT_RATE = 0.7        # share of the listed the meeting adopts
WINDOW_DAYS = 182       # the evaluation's outcome window, before and after each cohort date (at most)
BY = "hkc demo"         # the name in the disclosure log and on the imported interventions
EARLIER_QUARTERS = "{folder}: holds the extracts of an earlier demo's quarters ({stray}); choose a new --out"


@dataclasses.dataclass(frozen=True)
class QuarterRun:
    """What the report needs of one quarter's refresh (the refresh's frames are not kept)."""

    as_of: dt.date
    extract: Path
    out: Path
    listed: int
    eligible: int
    movement: dict[str, int]
    removed: int
    first: bool
    periphery: int
    peer_groups: int
    places: int
    audit: str
    top: str | None


def demo_quarters(today: dt.date, n: int = QUARTERS) -> list[dt.date]:
    """The last ``n`` quarter ends before ``today``, oldest first (a quarter end itself counts as not yet over)."""
    ends = [previous_quarter_end(today)]
    while len(ends) < n:
        ends.append(previous_quarter_end(ends[-1]))
    return ends[::-1]


def earlier_quarters(extracts: Path, quarters: Sequence[dt.date]) -> list[str]:
    """The extract folders in ``extracts`` of quarters other than ``quarters`` (an earlier demo's, on another day)."""
    wanted = {d.isoformat() for d in quarters} | {"_truth"}
    return sorted({p.parent.name for p in Path(extracts).glob("*/people.*")} - wanted)


def evaluation_plan(quarters: Sequence[dt.date]) -> tuple[list[dt.date], int]:
    """The cohorts and window the demo evaluates: the first two quarters, six months after each.

    Why: two cohorts give about twice the listed rows of one (a 50-person list is small for any
    design); six months lies inside the programme's twelve, and the second cohort's six months end
    by the last extract (cut to 181 days when they span only that: January to June of a common year).
    """
    cohorts = list(quarters[:2])
    return cohorts, min(WINDOW_DAYS, (quarters[-1] - cohorts[-1]).days)


def _quarter(day: dt.date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def _demo_definitions(out: Path) -> Definitions:
    """The repository's definitions with MLflow tracking kept inside the demo folder."""
    definitions = load_definitions()
    tracking = dataclasses.replace(definitions.settings.tracking, uri=f"sqlite:///{out / 'mlflow.db'}")
    return dataclasses.replace(definitions, settings=dataclasses.replace(definitions.settings, tracking=tracking))


def _summary(result: RefreshResult, extract: Path) -> QuarterRun:
    m = result.manifest
    moved = result.members["movement"].value_counts() if "movement" in result.members else pd.Series(dtype=int)
    return QuarterRun(as_of=result.as_of, extract=extract, out=result.out, listed=int(m["cohort_size"]),
                      eligible=int(m["eligible"]), movement={k: int(v) for k, v in moved.items()},
                      removed=int(len(result.removed)), first=m["previous_as_of"] is None,
                      periphery=int(m["periphery"]), peer_groups=int(m["peer_groups"]), places=int(m["places"]),
                      audit=m["audit"]["summary"] or "no flags",
                      top=str(result.members["person_id"].iloc[0]) if len(result.members) else None)


def _refreshing_lister(out: Path, definitions: Definitions, db_url: str, runs: list[QuarterRun],
                       say: Callable[[str], None]) -> Callable[[Path, dt.date], list[str]]:
    """The planted programme's lister: refresh the quarter from its own extract; the meeting adopts from that list."""
    def lister(folder: Path, date: dt.date) -> list[str]:
        say(f"refresh as of {date} from its own extract {folder}")
        result = run_refresh(folder, as_of=date, out=out / date.isoformat(), definitions=definitions, db_url=db_url,
                             extract_date=date, progress=say, partner_pack="yes", demo_key=True, by=BY)
        runs.append(_summary(result, Path(folder)))
        return result.members["person_id"].astype(str).tolist()
    return lister


def _import_scored(db_url: str, source: Path, target: Path, definitions: Definitions,
                   today: dt.date) -> tuple[int, int]:
    """Import the rows of ``source`` about people the history scored (written to ``target``); (imported, left out).

    The import takes all rows or none, so rows about anyone the history never scored (under this id
    or another id of the same person) are left out first; should the import still name some rows'
    people as unknown, those are left out too, once, and any other problem is raised."""
    store = open_store(db_url, create=False)
    rows = pd.read_csv(source, dtype=str, keep_default_na=False)
    ids = identities(store)
    scored = {ids.latest_id(p) for p in known_person_ids(store, ids.ids_of(set(rows["person_id"])))}
    keep = rows["person_id"].map(ids.latest_id).isin(scored)
    for attempt in range(2):
        if not keep.any():
            break
        rows[keep].to_csv(target, index=False)
        try:
            report = import_interventions(store, target, settings=definitions.settings.interventions, by=BY,
                                          today=today)
            return report.imported, int((~keep).sum())
        except InterventionImportError as exc:
            unknown = [p.row for p in exc.problems if p.column == "person_id"]
            if attempt or not unknown or len(unknown) < len(exc.problems):
                raise
            at = np.flatnonzero(keep.to_numpy())
            keep.iloc[at[np.asarray(unknown) - 2]] = False   # line 2 of the file is its first row
    return 0, len(rows)


def _movement(run: QuarterRun) -> str:
    if run.first:
        return "the first run: everyone listed is new"
    m = run.movement
    return (f"new {m.get('new', 0)}, up {m.get('up', 0)}, down {m.get('down', 0)}, no change {m.get('same', 0)}; "
            f"removed {run.removed}")


def run_demo(out: Path, *, people: int = 20000, seed: int = 7, today: dt.date | None = None,
             definitions: Definitions | None = None,
             progress: Callable[[str], None] | None = None) -> Iterator[str]:
    """Run four synthetic quarters and their evaluation into ``out`` (see the module docstring); yield the report.

    ``today`` fixes the quarters (the four quarter ends before it); ``definitions`` replaces the
    repository's (whose MLflow tracking is then kept in ``out/mlflow.db``), e.g. with a smaller audit
    bootstrap for tests.  The work happens as the report is read.
    """
    say = progress or (lambda _m: None)
    out = Path(out).resolve()
    today = today or dt.date.today()
    definitions = definitions or _demo_definitions(out)
    quarters = demo_quarters(today)
    cohorts, window = evaluation_plan(quarters)
    db_url = f"sqlite:///{out / 'history.db'}"
    extracts = out / "extracts"
    stray = earlier_quarters(extracts, quarters)
    if stray:   # before anything is replaced
        raise OutputError(EARLIER_QUARTERS.format(folder=extracts, stray=", ".join(stray)))
    for name in ("history.db", "history.db-journal", "history.db-wal", "history.db-shm"):  # an earlier demo's:
        (out / name).unlink(missing_ok=True)                                              # this force's history only
    runs: list[QuarterRun] = []
    s = definitions.settings
    effect = Effect(size=EFFECT, lister=_refreshing_lister(out, definitions, db_url, runs, say),
                    outcome_types=tuple(s.outcome.types), outcome_roles=tuple(s.outcome.roles), months=EFFECT_MONTHS,
                    adopt_rate=ADOPT_RATE, intervention_types=tuple(s.interventions.types))
    say(f"generating a synthetic force of {people:,} people (seed {seed}) through {quarters[0]} to {quarters[-1]}")
    force = generate_quarters(people=people, seed=seed, quarters=quarters, catalogue=definitions.catalogue,
                              effect=effect)
    write_quarters(force, extracts, progress=say)   # each quarter's refresh runs as its extract is written
    say("importing the meeting's interventions")
    imported, left_out = _import_scored(db_url, extracts / "interventions.csv", out / "interventions.csv",
                                        definitions, today)
    last = quarters[-1]
    say(f"evaluating the cohorts {', '.join(map(str, cohorts))} against the extract of {last}, {window} days")
    try:
        evaluation = run_evaluation(extracts / last.isoformat(), cohorts=cohorts, window_days=window,
                                    out=out / "evaluation", definitions=definitions, db_url=db_url,
                                    extract_date=last, progress=say)
    except HkcError as exc:   # a force too small to list anyone: say so rather than fail after the quarters ran
        evaluation = {"refused": str(exc)}
    truth = true_effect(force.treatment, cohorts, window)["listed"]
    treatment = force.treatment
    adopted = int(sum(frame["adopted"].sum() for frame in treatment.listings))
    yield from _report(out, runs, quarters, cohorts, window, db_url, evaluation, truth,
                       adopted=adopted, removed_events=int(treatment.removed.sum()), imported=imported,
                       left_out=left_out, outcome_words=main_outcome(definitions).words)


def _report(out: Path, runs: list[QuarterRun], quarters: list[dt.date], cohorts: list[dt.date], window: int,
            db_url: str, evaluation: dict, truth: dict, *, adopted: int, removed_events: int, imported: int,
            left_out: int, outcome_words: str) -> Iterator[str]:
    """The demo's report: the quarters, the planted effect, the evaluation in its own words, where to look."""
    extracts, latest, previous = out / "extracts", runs[-1], runs[-2]
    yield (f"synthetic force: one extract per quarter end in {extracts}/ ({', '.join(map(str, quarters))}), "
           f"each refreshed from its own extract into {out}/<date>/")
    for run in runs:
        yield f"quarter {run.as_of}: {run.listed} listed of {run.eligible:,} eligible; {_movement(run)}"
    yield (f"  latest: periphery {latest.periphery}, peer groups {latest.peer_groups}, places {latest.places}; "
           f"fairness audit {latest.audit}")
    yield ""
    yield (f"planted effect (synthetic, known only because this force is invented): the meeting adopted each "
           f"listed person with a {ADOPT_RATE:.0%} chance ({adopted:,} adoptions in {len(runs)} quarters) and the "
           f"programme removed "
           f"{EFFECT:.0%} of each adopted person's later knife offending for {EFFECT_MONTHS} months "
           f"({removed_events:,} true events removed); ground truth in {extracts / '_truth'}/")
    dropped = (f"; {left_out} row(s) left out: the import found no person the history scored under their id"
               if left_out else "")
    yield f"interventions: {imported:,} imported into the history from {extracts / 'interventions.csv'}{dropped}"
    yield ""
    yield (f"evaluation of the cohorts {', '.join(map(str, cohorts))} ({window} days before and after each, "
           f"outcomes read in the extract of {quarters[-1]}):")
    yield from _evaluation_lines(evaluation, truth, outcome_words)
    yield ""
    pack = latest.out
    last = quarters[-1]
    yield f"open first: {pack / 'cohort.html'}  (the meeting pack)"
    yield f"then:       {pack / 'cohort.csv'} (police view), periphery.csv, peer_groups.csv, "
    yield "            places.csv, removed.csv, run.json, audit/audit.html (the fairness audit)"
    yield (f"partners:   {pack / 'partner' / 'cohort.html'} — pseudonymised with the DEMO KEY, "
           f"not for real data; real runs need HKC_PSEUDONYM_KEY")
    yield (f"evaluation: {out / 'evaluation' / 'evaluation.html'}  (evaluation.json holds every figure)"
           if "refused" not in evaluation else "evaluation: none written (see above); the command was")
    yield (f"            hkc evaluate {extracts / last.isoformat()} --cohorts {_quarter(cohorts[0])}.."
           f"{_quarter(cohorts[-1])} --window {window} --out {out / 'evaluation'} --db {db_url} --extract-date {last}")
    yield f"tracking:   mlflow ui --backend-store-uri sqlite:///{out / 'mlflow.db'}"
    yield f"history:    hkc history --db {db_url}"
    yield f"            hkc movement --from {previous.as_of} --to {latest.as_of} --db {db_url}"
    yield f"records:    hkc transparency --db {db_url}   (and hkc dpia: the impact assessment draft)"
    yield (f"backtest:   hkc backtest {extracts / last.isoformat()} --as-of {last} --extract-date {last} "
           f"--out {out / 'backtest'}")
    if latest.top is not None:
        yield f"explain:    hkc explain {latest.top} --purpose 'case review' --db {db_url}"


def _evaluation_lines(evaluation: dict, truth: dict, outcome_words: str) -> Iterator[str]:
    """The evaluation in its own verdict's words, the naive figure beside the main one, then the planted truth."""
    if "refused" in evaluation:
        yield f"  The evaluation could not run: {evaluation['refused']}"
        return
    naive = evaluation["designs"].get("naive_prepost", {})
    sentences = evaluation["verdict"]
    yield f"  {sentences[0]}"
    if naive.get("available") and naive.get("estimate") is not None and len(sentences) > 1:
        yield f"  {sentences[1]}"
    elif not naive.get("available"):
        yield f"  The simple before/after could not be computed: {naive.get('reason') or 'no reason given'}."
    if truth.get("effect") is not None:
        yield (f"  The planted truth for the listed in these cohorts: {outcome_words} "
               f"{signed_percent(truth['effect'])} "
               f"({truth['observed']} events happened where {truth['counterfactual']} would have without the "
               f"programme); a real force never knows this figure.")
    for warning in evaluation.get("warnings", []):
        yield f"  Warning: {warning}"
