"""Benchmark the whole refresh, and its scoring stage against one DuckDB SQL aggregation.

    python -m benchmarks.refresh --people 1000000 [--seed S]
    python -m benchmarks.refresh --sizes 100000,1000000,3000000

For each size: generate (or reuse, cached by seed and size under ``benchmarks/.cache/``) a
synthetic extract in Parquet, run the full refresh (validate, score, cohort, peers, audit with the
spec's 1,000 bootstrap resamples, outputs with the partner pack, history; model and MLflow off),
and time — in the same process, on the same Parquet — a single DuckDB query computing each
person's risk score as a sum over events of gravity × evidence × recency decay within the
lookback window.  That reference does less than hkc's scoring stage (no frequency cap, no
eligibility, no vulnerability axis), so the ratio is conservative.  Prints one JSON object per
size; the last line is the last size.  Needs ``pip install duckdb`` (not a dependency of hkc).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

from hkc.definitions import load_definitions
from hkc.refresh import run_refresh
from hkc.synth import generate_force, write_force

CACHE = Path(__file__).resolve().parent / ".cache"
UNTIL = dt.date(2026, 9, 30)


def extract_for(people: int, seed: int) -> Path:
    folder = CACHE / f"seed{seed}-people{people}"
    if not (folder / "events.parquet").is_file():
        defs = load_definitions()
        force = generate_force(people=people, seed=seed, until=UNTIL, catalogue=defs.catalogue)
        tmp = Path(tempfile.mkdtemp(dir=CACHE.parent if CACHE.exists() else None))
        write_force(force, tmp / "x", fmt="parquet")
        CACHE.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        (tmp / "x").rename(folder)
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def duckdb_risk_seconds(folder: Path, definitions, as_of: dt.date) -> tuple[float, int]:
    import duckdb

    cat = definitions.catalogue
    types = ", ".join(
        f"('{c}', {i.gravity}, {i.half_life_days}, {i.lookback_days}, '{i.evidence}', "
        f"[{', '.join(repr(r) for r in i.roles)}])" for c, i in cat.indicators.items() if i.axis == "risk")
    outcome = ", ".join(f"('{k}', {v})" for k, v in cat.outcome_multipliers.items())
    role = ", ".join(f"('{k}', {v})" for k, v in cat.role_multipliers.items())
    grade = ", ".join(f"('{s}{a}', {cat.grade_source[s] * cat.grade_assessment[a]})"
                      for s in cat.grade_source for a in cat.grade_assessment)
    sql = f"""
    with t(type, gravity, half_life, lookback, evidence, roles) as (values {types}),
         o(outcome, m) as (values {outcome}), r(role, m) as (values {role}), g(grade, m) as (values {grade}),
         e as (select person_id, type, role, outcome, upper(trim(grade)) as grade,
                      date_diff('day', cast(date as date), date '{as_of}') as age
               from read_parquet('{folder / 'events.parquet'}'))
    select person_id, sum(t.gravity * r.m
               * case t.evidence when 'outcome' then coalesce(o.m, {cat.outcome_multipliers['none']})
                                 when 'grade' then coalesce(g.m, {cat.grade_missing}) else 1 end
               * pow(0.5, e.age / t.half_life)) as risk
    from e join t on e.type = t.type join r on e.role = r.role
         left join o on e.outcome = o.outcome left join g on e.grade = g.grade
    where e.age between 0 and t.lookback and list_contains(t.roles, e.role)
    group by person_id
    """
    con = duckdb.connect()
    start = time.perf_counter()
    rows = con.execute(sql).fetchall()
    return time.perf_counter() - start, len(rows)


def run(people: int, seed: int) -> dict:
    folder = extract_for(people, seed)
    defs = load_definitions()
    settings = dataclasses.replace(defs.settings, tracking=dataclasses.replace(defs.settings.tracking, enabled=False))
    defs = dataclasses.replace(defs, settings=settings)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = run_refresh(folder, as_of=UNTIL, out=Path(tmp) / "out", definitions=defs,
                             db_url=f"sqlite:///{tmp}/history.db", extract_date=UNTIL, partner_pack="yes",
                             demo_key=True, by="benchmark")
        wall = time.perf_counter() - start
    duck_s, duck_people = duckdb_risk_seconds(folder, defs, UNTIL)
    events = result.manifest["counts"]["events"]["read"]
    return {"people": people, "events": events, "wall_s": round(wall, 2),
            "stages": {k: round(v, 2) for k, v in result.stages.items()},
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "rows_per_s": round((people + events) / wall), "score_s": round(result.stages["score"], 2),
            "duckdb_score_s": round(duck_s, 2), "duckdb_people_scored": duck_people,
            "score_vs_duckdb": round(result.stages["score"] / duck_s, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sizes", help="comma-separated sizes, e.g. 100000,1000000,3000000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [args.people]
    for size in sizes:
        print(json.dumps(run(size, args.seed)), flush=True)


if __name__ == "__main__":
    main()
