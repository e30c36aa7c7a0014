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
size (with ``--sizes``, each size runs in a fresh process so its peak RSS is its own); the last
line is the last size.  Above 1,000,000 people the extract is a region of independent
force-sized areas (see :func:`extract_for`).  Needs ``pip install duckdb`` (not a dependency of hkc).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hkc.definitions import load_definitions
from hkc.extract import CapacityError, extract_rows
from hkc.refresh import run_refresh
from hkc.synth import generate_force, write_force

CACHE = Path(__file__).resolve().parent / ".cache"
UNTIL = dt.date(2026, 9, 30)


SHARD = 1_000_000  # larger extracts are a region of force-sized areas, generated one at a time


def extract_for(people: int, seed: int) -> Path:
    """The cached synthetic extract of ``people`` people (Parquet), generating it if needed.

    Up to :data:`SHARD` people it is one synthetic force.  Above, it is a region: independent
    forces of :data:`SHARD` people (seeds ``seed * 100 + k``), their ids and area names prefixed
    ``A{k}-`` so they never collide, appended file by file so memory stays that of one force.
    """
    folder = CACHE / f"seed{seed}-people{people}"
    if (folder / "events.parquet").is_file():
        return folder
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=CACHE))
    try:
        defs = load_definitions()
        if people <= SHARD:
            force = generate_force(people=people, seed=seed, until=UNTIL, catalogue=defs.catalogue)
            write_force(force, tmp / "x", fmt="parquet")
        else:
            _write_region(tmp / "x", people, seed, defs)
        shutil.rmtree(folder, ignore_errors=True)
        (tmp / "x").rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _write_region(out: Path, people: int, seed: int, defs) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out.mkdir(parents=True)
    prefixed = {"people": ("person_id", "area"), "events": ("event_id", "person_id", "occurrence_id", "location_id"),
                "population": ("area",)}
    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for k, start in enumerate(range(0, people, SHARD)):
            size = min(SHARD, people - start)
            print(f"generating area {k + 1} of {-(-people // SHARD)} ({size:,} people)", file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory(dir=out.parent) as shard:
                force = generate_force(people=size, seed=seed * 100 + k, until=UNTIL, catalogue=defs.catalogue)
                write_force(force, Path(shard), fmt="parquet")
                del force
                for name, columns in prefixed.items():
                    table = pq.read_table(Path(shard) / f"{name}.parquet")
                    for col in columns:
                        values = table[col]
                        tagged = pc.binary_join_element_wise(pa.scalar(f"A{k}-", values.type), values,
                                                             pa.scalar("", values.type))
                        table = table.set_column(table.schema.get_field_index(col), col,
                                                 pc.if_else(pc.equal(values, ""), values, tagged))
                    if name not in writers:
                        writers[name] = pq.ParquetWriter(out / f"{name}.parquet", table.schema)
                    writers[name].write_table(table)
    finally:
        for writer in writers.values():
            writer.close()


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
    result = con.sql(sql).to_arrow_table()  # columnar, like hkc's own scores (no Python rows)
    return time.perf_counter() - start, result.num_rows


def run(people: int, seed: int) -> dict:
    folder = extract_for(people, seed)
    defs = load_definitions()
    settings = dataclasses.replace(defs.settings, tracking=dataclasses.replace(defs.settings.tracking, enabled=False))
    defs = dataclasses.replace(defs, settings=settings)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        try:
            result = run_refresh(folder, as_of=UNTIL, out=Path(tmp) / "out", definitions=defs,
                                 db_url=f"sqlite:///{tmp}/history.db", extract_date=UNTIL, partner_pack="yes",
                                 demo_key=True, by="benchmark")
        except CapacityError as refused:  # too big for this machine: say so, and time the reference anyway
            refused_after = time.perf_counter() - start
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            people_rows, event_rows, _ = extract_rows(folder)
            duck_s, duck_people = duckdb_risk_seconds(folder, defs, UNTIL)
            return {"people": people_rows, "events": event_rows, "completed": False,
                    "refused_after_s": round(refused_after, 2), "message": str(refused), "peak_rss_mb": round(peak),
                    "duckdb_score_s": round(duck_s, 2), "duckdb_people_scored": duck_people}
        wall = time.perf_counter() - start
    duck_s, duck_people = duckdb_risk_seconds(folder, defs, UNTIL)
    events = result.manifest["counts"]["events"]["read"]
    return {"people": people, "events": events, "completed": True, "wall_s": round(wall, 2),
            "stages": {k: round(v, 2) for k, v in result.stages.items()},
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "rows_per_s": round((people + events) / wall), "score_s": round(result.stages["score"], 2),
            "duckdb_score_s": round(duck_s, 2), "duckdb_people_scored": duck_people,
            "score_vs_duckdb": round(result.stages["score"] / duck_s, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sizes", help="comma-separated sizes, e.g. 100000,1000000,3000000 (each in a fresh process)")
    args = parser.parse_args()
    if not args.sizes:
        print(json.dumps(run(args.people, args.seed)), flush=True)
        return
    for size in (int(s) for s in args.sizes.split(",")):
        extract_for(size, args.seed)  # generate outside the measured process
        done = subprocess.run([sys.executable, "-m", "benchmarks.refresh", "--people", str(size),
                               "--seed", str(args.seed)], capture_output=True, text=True)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            message = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
            print(json.dumps({"people": size, "completed": False, "exit_code": done.returncode,
                              "message": message}), flush=True)
        else:
            print(lines[-1], flush=True)


if __name__ == "__main__":
    main()
