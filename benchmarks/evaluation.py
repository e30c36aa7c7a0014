"""Hold the evaluation designs to account: a synthetic force with a known effect, seed after seed.

    python -m benchmarks.evaluation --seeds 20 --effect 0
    python -m benchmarks.evaluation --seeds 20 --effect 0.3 [--people 20000] [--jobs 2]

Per seed: a quarterly synthetic force (:func:`hkc.synth.generate_quarters`, quarters
:data:`QUARTERS`) with a programme of known effect (:mod:`hkc.synth.effect`): after each quarter's
extract is written the matrix scores it and lists by the configured cohort rule, the meeting adopts
each listed person with probability ``--adopt-rate``, and each adopted person's true knife offending
(``[outcome]``) is thinned by ``--effect`` for ``--effect-months``.  The cohorts :data:`COHORTS` are
then evaluated with a :data:`WINDOW_DAYS`-day window against the last extract
(:func:`hkc.evaluation.evaluate_panel`), and each design's estimate is compared with the truth:
the effect on the treated (adopted) rows for the treatment-on-the-treated analysis, on the listed rows
for intention to treat (observed over counterfactual events, minus 1; see below).

The panel (one row per eligible person and cohort quarter) comes one of two ways:

* ``--panel history`` (the default, the real path): each cohort quarter's extract is refreshed
  (:func:`hkc.refresh.run_refresh`, no partner pack) into a throwaway SQLite history,
  ``interventions.csv`` is imported (:func:`hkc.partnership.import_interventions`, dated the last
  extract; rows of people the history never scored are left out first, since the import takes all
  rows or none and they cannot be in the panel anyway), and the panel is built as ``hkc evaluate``
  builds it (:func:`hkc.evaluation.build_panel` on the last extract, then
  :func:`hkc.evaluation.evaluate_panel` with the same arguments as its runner).
* ``--panel direct`` (faster, for quick looks): the ranks, scores and cut-off the lister recorded as
  it listed, the eligible only; outcome counts from the last extract with ids resolved through its
  ``aliases``; ``treated`` for an intervention starting the day after the cohort date.

The truth is computed for the panel's own rows (:func:`hkc.synth.outcome_counts`: each row's true
outcome events in the window after its cohort date, observed and counterfactual), over the rows the
panel marks ``listed`` (intention to treat) and ``treated`` (treatment on the treated: for the
history panel, an intervention received in the window after the cohort date), so a design is held to
the effect on the very rows it compares.  Effect 0: the truth is 0 exactly.

The settings are the repository's, copied once at the start into a throwaway deployment folder
(:func:`hkc.definitions.init_deployment`) with MLflow off and the fairness audit's bootstrap cut to
:data:`AUDIT_RESAMPLES` resamples: the audit is most of a refresh's time and plays no part in the
evaluation; and a settings file edited during the run cannot change it half-way.

Why the quarters run to 2026Q4: the last cohort (2025Q4) needs its 365 days after, to 2026-12-31.

Prints one JSON object: the settings, the runtime, and per analysis (``intention_to_treat``,
``treatment_on_treated``) and design: seeds where it was computed, mean estimate, mean truth, the
share of those seeds whose 95% interval covers the truth, the share whose interval excludes 0, and
the mean minimum detectable effect; with ``--per-seed``, every seed's figures too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hkc.definitions import Definitions, init_deployment, load_definitions
from hkc.evaluation import DESIGNS, build_panel, evaluate_panel, main_outcome
from hkc.extract import load_extract
from hkc.history import known_person_ids, open_store
from hkc.matrix import score_people, select_cohort
from hkc.partnership import InterventionImportError, import_interventions
from hkc.refresh import run_refresh
from hkc.synth import Effect, generate_quarters, outcome_counts, parse_quarters, write_quarters

QUARTERS = "2024Q1..2026Q4"
COHORTS = "2025Q1..2025Q4"
WINDOW_DAYS = 365
PEOPLE = 20_000          # about 190 eligible a quarter: a cohort of 50 and its 50 near miss
AUDIT_RESAMPLES = 50     # the refresh's fairness audit: no part of the evaluation
YEAR = 365.25


class RecordingLister:
    """The matrix as the programme's lister: score the extract, list by the cohort rule, and keep the
    ranked eligible of the cohort quarters (what a refresh stores) for the panel."""

    def __init__(self, definitions: Definitions, cohorts: list[dt.date]):
        self.definitions, self.cohorts = definitions, set(cohorts)
        self.ranked: dict[dt.date, pd.DataFrame] = {}

    def __call__(self, folder: Path, date: dt.date) -> list[str]:
        defs, s = self.definitions, self.definitions.settings
        extract = load_extract(folder, catalogue=defs.catalogue, extract_date=date)
        scored = score_people(extract.people, extract.events, catalogue=defs.catalogue, eligibility=s.eligibility,
                              as_of=date)
        chosen = select_cohort(scored.scores, cohort=s.cohort, rag=s.rag)
        members = chosen.members["person_id"].astype(str)
        if date in self.cohorts:
            ranked = chosen.ranked
            frame = pd.DataFrame({"person_id": ranked["person_id"].astype(str).to_numpy(),
                                  "rank": ranked["priority_rank"].to_numpy(), "score": ranked["risk_score"].to_numpy(),
                                  "age": ranked["age"].to_numpy(), "sex": ranked["sex"].astype(str).to_numpy()})
            frame["listed"] = frame["person_id"].isin(set(members))
            full = len(members) >= s.cohort.size and s.cohort.method != "threshold"
            frame["cutoff"] = float(frame.loc[frame["listed"], "score"].min()) if full and len(members) else \
                float(s.cohort.min_score)
            counts = scored.contributions[scored.contributions["axis"] == "risk"]
            wide = counts.pivot_table(index="person_id", columns="indicator", values="count", aggfunc="sum",
                                      fill_value=0, observed=True)
            wide.columns = [f"n_{c}" for c in wide.columns]
            frame = frame.merge(wide, left_on="person_id", right_index=True, how="left")
            self.ranked[date] = frame.fillna({c: 0 for c in wide.columns})
        return members.tolist()


def _read(folder: Path, name: str) -> pd.DataFrame | None:
    for path in (folder / f"{name}.parquet", folder / f"{name}.csv"):
        if path.is_file():
            return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    return None


def build_panel_locally(recorder: RecordingLister, out: Path, last: dt.date, definitions: Definitions,
                        window_days: int = WINDOW_DAYS) -> tuple[pd.DataFrame, int]:
    """The evaluation panel (:mod:`hkc.evaluation.panel`) of the recorded cohorts, counted from the last
    extract; returns it and the number of rows dropped because the person is not in the last extract."""
    defs, outcome = definitions, definitions.settings.outcome
    extract = load_extract(out / last.isoformat(), catalogue=defs.catalogue, extract_date=last)
    aliases = _read(out / last.isoformat(), "aliases")
    forward = dict(zip(aliases["old_id"], aliases["new_id"], strict=True)) if aliases is not None else {}
    people = extract.people
    index = pd.Series(np.arange(len(people)), index=people["person_id"].astype(str).to_numpy())
    dob = people["date_of_birth"].to_numpy().astype("datetime64[D]")
    ev = extract.events
    hit = ev["type"].isin(outcome.types).to_numpy() & ev["role"].isin(outcome.roles).to_numpy()
    ev_person = ev["person_idx"].to_numpy()[hit]
    ev_day = ev["date"].to_numpy().astype("datetime64[D]")[hit]
    ivs = pd.read_csv(out / "interventions.csv", dtype=str, keep_default_na=False)
    started = set(zip(ivs["person_id"], ivs["start_date"], strict=True))
    frames, dropped = [], 0
    for cohort, frame in sorted(recorder.ranked.items()):
        ids = frame["person_id"].map(lambda p: forward.get(p, p))
        where = index.reindex(ids.to_numpy()).to_numpy()
        found = ~np.isnan(where)
        dropped += int((~found).sum())
        frame, where = frame[found].copy(), where[found].astype(np.int64)
        c = np.datetime64(cohort.isoformat(), "D")
        lo, hi = c - np.timedelta64(window_days, "D"), c + np.timedelta64(window_days, "D")
        n = len(people)
        frame["pre_events"] = np.bincount(ev_person[(ev_day > lo) & (ev_day <= c)], minlength=n)[where]
        frame["post_events"] = np.bincount(ev_person[(ev_day > c) & (ev_day <= hi)], minlength=n)[where]
        birth = dob[where]
        tenth = birth + np.timedelta64(round(10 * YEAR), "D")
        end = np.minimum(np.minimum(hi, birth + np.timedelta64(math.floor(31 * YEAR), "D")),
                         np.datetime64(last.isoformat(), "D"))
        frame["pre_years"] = np.clip((c - np.maximum(lo, tenth)).astype(np.int64), 0, None) / YEAR
        frame["post_years"] = np.clip((end - c).astype(np.int64), 0, None) / YEAR
        day_after = (cohort + dt.timedelta(days=1)).isoformat()
        frame["treated"] = [(p, day_after) in started for p in frame["person_id"]]
        frame["cohort"] = cohort
        frames.append(frame)
    return pd.concat(frames, ignore_index=True), dropped


def build_panel_from_history(out: Path, work: Path, cohorts: list[dt.date], last: dt.date, definitions: Definitions,
                              window_days: int = WINDOW_DAYS) -> tuple[pd.DataFrame, int]:
    """The panel as ``hkc evaluate`` builds it: a refresh per cohort quarter into a new SQLite history, the
    interventions imported, :func:`hkc.evaluation.build_panel` on the last extract.  Returns the panel and
    the number of intervention rows left out (people the history never scored)."""
    offline = definitions
    url = f"sqlite:///{work / 'history.db'}"
    for cohort in cohorts:
        run_refresh(out / cohort.isoformat(), as_of=cohort, out=work / f"refresh-{cohort.isoformat()}",
                    definitions=offline, db_url=url, extract_date=cohort, partner_pack="no", by="benchmark")
    store = open_store(url, create=False)
    ivs = pd.read_csv(out / "interventions.csv", dtype=str, keep_default_na=False)
    known = known_person_ids(store, ivs["person_id"])
    keep = ivs["person_id"].isin(known) & (ivs["start_date"] <= last.isoformat())
    for _attempt in range(2):  # the import may know fewer people than the scores table: leave those out, once
        if not keep.any():
            break
        ivs[keep].to_csv(work / "interventions.csv", index=False)
        try:
            import_interventions(store, work / "interventions.csv", settings=offline.settings.interventions,
                                 by="benchmark", today=last)
            break
        except InterventionImportError as exc:
            unknown = [p.row for p in exc.problems if p.column == "person_id"]
            if _attempt or len(unknown) < len(exc.problems):
                raise
            rows = np.flatnonzero(keep.to_numpy())
            keep.iloc[rows[np.asarray(unknown) - 2]] = False   # file line 2 is the first row kept
    extract = load_extract(out / last.isoformat(), catalogue=offline.catalogue, extract_date=last)
    panel = build_panel(store, extract, definitions=offline, cohorts=cohorts, window_days=window_days,
                        extract_end=last)
    return panel, int((~keep).sum())


def run_seed(seed: int, *, people: int, effect: float, months: int, adopt_rate: float, definitions: Definitions,
             panel_from: str = "history", quarters: str = QUARTERS, cohorts: str = COHORTS,
             window_days: int = WINDOW_DAYS) -> dict[str, Any]:
    """One seed: the force, the panel, every design for both analyses, and the truth."""
    start = time.perf_counter()
    defs = definitions
    ends, chosen = parse_quarters(quarters), parse_quarters(cohorts)
    recorder = RecordingLister(defs, chosen)
    programme = Effect(size=effect, lister=recorder, outcome_types=tuple(defs.settings.outcome.types),
                       outcome_roles=tuple(defs.settings.outcome.roles), months=months, adopt_rate=adopt_rate,
                       intervention_types=tuple(defs.settings.interventions.types))
    force = generate_quarters(people=people, seed=seed, quarters=ends, catalogue=defs.catalogue, effect=programme)
    with tempfile.TemporaryDirectory(prefix="hkc-evaluation-") as tmp:
        out = Path(tmp) / "force"
        write_quarters(force, out, fmt="parquet")
        built = time.perf_counter()
        if panel_from == "history":
            panel, dropped = build_panel_from_history(out, Path(tmp), chosen, ends[-1], defs, window_days)
        else:
            panel, dropped = build_panel_locally(recorder, out, ends[-1], defs, window_days)
    panelled = time.perf_counter()
    result = evaluate_panel(panel, outcome_words=main_outcome(defs).words, window_days=window_days)
    observed, counterfactual = outcome_counts(force.treatment, panel["person_id"], list(panel["cohort"]), window_days)
    analyses = {"intention_to_treat": ("designs", "listed"), "treatment_on_treated": ("treatment_on_treated", "treated")}
    truth = {}
    for name, (_, group) in analyses.items():
        mine = panel[group].to_numpy(bool)
        seen, would = int(observed[mine].sum()), int(counterfactual[mine].sum())
        truth[name] = {"rows": int(mine.sum()), "observed": seen, "counterfactual": would,
                       "effect": seen / would - 1 if would else None}
    out: dict[str, Any] = {"seed": seed, "rows": len(panel), "left_out": dropped,
                           "listed_rows": int(panel["listed"].sum()), "treated_rows": int(panel["treated"].sum()),
                           "truth": truth, "seconds": {"force": round(built - start, 1),
                                                       "panel": round(panelled - built, 1),
                                                       "evaluate": round(time.perf_counter() - panelled, 1)}}
    for name, (key, _) in analyses.items():
        designs = result.get(key) or {}
        out[name] = {d: {k: designs[d].get(k) for k in ("available", "reason", "estimate", "ci_low", "ci_high", "mde",
                                                         "n_treated", "n_comparison")} for d in designs}
    return out


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def summarise(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per analysis and design: seeds computed, mean estimate and truth, coverage, share excluding 0, mean MDE."""
    out: dict[str, Any] = {}
    for analysis in ("intention_to_treat", "treatment_on_treated"):
        truths = [s["truth"][analysis]["effect"] for s in seeds if s["truth"][analysis]["effect"] is not None]
        block: dict[str, Any] = {"mean_truth": _mean(truths)}
        for design in DESIGNS:
            done = [(s[analysis][design], s["truth"][analysis]["effect"]) for s in seeds
                    if s.get(analysis, {}).get(design, {}).get("available")
                    and s[analysis][design].get("ci_low") is not None]
            covered = [r["ci_low"] <= (t if t is not None else 0.0) <= r["ci_high"] for r, t in done]
            block[design] = {
                "seeds": len(seeds), "computed": len(done), "mean_estimate": _mean([r["estimate"] for r, _ in done]),
                "covers_truth": _mean(covered), "covers_truth_count": int(sum(covered)),
                "excludes_zero": _mean([r["ci_high"] < 0 or r["ci_low"] > 0 for r, _ in done]),
                "mean_mde": _mean([r["mde"] for r, _ in done if r["mde"] is not None]),
                "mean_ci_width": _mean([r["ci_high"] - r["ci_low"] for r, _ in done]),
                "reasons_not_computed": sorted({s[analysis][design]["reason"] for s in seeds
                                                if s.get(analysis, {}).get(design)
                                                and not s[analysis][design]["available"]}),
            }
        out[analysis] = block
    return out


def benchmark_definitions(folder: Path) -> Definitions:
    """The repository's definitions copied into ``folder`` (see the module docstring), loaded."""
    init_deployment(folder)
    config = folder / "config" / "hkc.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r"(\[tracking\][^\[]*?)enabled = true", r"\1enabled = false", text, count=1),
                      encoding="utf-8")
    spec = folder / "audits" / "fairness.toml"
    spec.write_text(re.sub(r"(?m)^resamples = \d+", f"resamples = {AUDIT_RESAMPLES}", spec.read_text(encoding="utf-8")),
                    encoding="utf-8")
    definitions = load_definitions(config=config)
    assert not definitions.settings.tracking.enabled
    return definitions


_DEFINITIONS: Definitions | None = None   # loaded once by main, inherited by the forked workers


def _one(seed: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    return run_seed(seed, **kwargs, definitions=_DEFINITIONS) | {"settings": kwargs}


def main() -> None:
    global _DEFINITIONS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds 1..N")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--effect", type=float, default=0.0, help="share of the treated's knife offending removed")
    parser.add_argument("--effect-months", type=int, default=12)
    parser.add_argument("--adopt-rate", type=float, default=0.7)
    parser.add_argument("--people", type=int, default=PEOPLE)
    parser.add_argument("--panel", choices=["history", "direct"], default="history",
                        help="build the panel through a refreshed history (the real path) or from the lister's record")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at once, each in its own process")
    parser.add_argument("--log", type=Path, help="append each seed's figures to this file (JSON lines) as it ends; "
                        "seeds it already holds (from an interrupted run of the same settings) are not run again")
    parser.add_argument("--per-seed", action="store_true", help="print every seed's figures too")
    args = parser.parse_args()
    deployment = Path(tempfile.mkdtemp(prefix="hkc-evaluation-settings-"))
    _DEFINITIONS = benchmark_definitions(deployment)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    kwargs = {"people": args.people, "effect": args.effect, "months": args.effect_months,
              "adopt_rate": args.adopt_rate, "panel_from": args.panel}
    start = time.perf_counter()
    results = []
    if args.log is not None and args.log.is_file():
        earlier = [json.loads(line) for line in args.log.read_text(encoding="utf-8").splitlines() if line.strip()]
        results = [r for r in earlier if r["seed"] in seeds and r.get("settings") == kwargs]
    todo = [seed for seed in seeds if seed not in {r["seed"] for r in results}]
    with ProcessPoolExecutor(args.jobs) as pool:
        for future in as_completed([pool.submit(_one, seed, kwargs) for seed in todo]):
            results.append(future.result())
            if args.log is not None:
                with args.log.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(results[-1], default=str) + "\n")
            print(f"seed {results[-1]['seed']} done ({len(results)}/{len(seeds)}, "
                  f"{time.perf_counter() - start:.0f} s)", file=sys.stderr)
    results.sort(key=lambda r: r["seed"])
    report = {"settings": {**kwargs, "seeds": args.seeds, "first_seed": args.first_seed, "quarters": QUARTERS,
                           "cohorts": COHORTS, "window_days": WINDOW_DAYS, "jobs": args.jobs},
              "runtime_s": round(time.perf_counter() - start, 1), "seeds_run_now": len(todo),
              "mean_seconds_per_seed": _mean([sum(r["seconds"].values()) for r in results]),
              "mean_listed_rows": _mean([r["listed_rows"] for r in results]),
              "mean_treated_rows": _mean([r["treated_rows"] for r in results]),
              "left_out": int(sum(r["left_out"] for r in results)),
              "left_out_means": "history panel: intervention rows of people the history never scored; direct panel: "
                                "ranked rows whose person is not in the last extract",
              **summarise(results)}
    if args.per_seed:
        report["per_seed"] = results
    shutil.rmtree(deployment, ignore_errors=True)
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
