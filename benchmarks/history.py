"""Time the history stage: storing one refresh (scores, contributions, evidence) in the store.

    python -m benchmarks.history --people 1000000 [--seed S] [--url URL] [--repeat N]

The frames are exactly those a refresh hands to :meth:`hkc.history.store.HistoryStore.save_run`
(stored scores, contributions and evidence of the stored people, removed), built once from the
cached synthetic extract (``benchmarks/.cache/seed{S}-people{N}``, made by
``benchmarks/refresh.py`` if missing) and cached beside it as Parquet, so a rerun starts in
seconds.  Each repeat stores the run twice into a fresh store: the first ``save_run`` is a new
as-of date, the second replaces it (the rerun of a quarter).  Then it reads one person back
(``hkc explain``'s query) and one person's whole history (subject access).

Without ``--url`` the store is a SQLite file in a temporary folder; with a PostgreSQL URL
(``postgresql+psycopg://...``) the benchmark works in a schema of its own, dropped at the end.
Prints one JSON line: the best and every timing in seconds (``save_new_cpu_s``: CPU seconds of this
process, all threads, which a busy machine disturbs less than wall time), and the row counts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
import uuid

import pandas as pd
import sqlalchemy as sa

from benchmarks.refresh import CACHE, UNTIL, extract_for
from hkc.history import open_store

FRAMES = ("scores", "contributions", "evidence", "removed")
MANIFEST = {"started_at": "2026-10-01T08:00:00+00:00", "finished_at": "2026-10-01T08:20:00+00:00",
            "hkc_version": "benchmark", "config_sha256": "c" * 64, "inputs_sha256": "i" * 64}


def build_frames(people: int, seed: int) -> dict[str, pd.DataFrame]:
    """The frames ``save_run`` receives in a refresh of the synthetic force (as hkc/refresh.py builds them)."""
    from hkc.definitions import load_definitions
    from hkc.extract import load_extract
    from hkc.matrix import score_people, select_cohort
    from hkc.refresh.frames import cohort_frame, scores_frame, stored_scores

    defs = load_definitions()
    extract = load_extract(extract_for(people, seed), catalogue=defs.catalogue, extract_date=UNTIL)
    scored = score_people(extract.people, extract.events, catalogue=defs.catalogue,
                          eligibility=defs.settings.eligibility, as_of=UNTIL)
    chosen = select_cohort(scored.scores, cohort=defs.settings.cohort, rag=defs.settings.rag)
    members = cohort_frame(scored, chosen.members, None, defs)
    stored = stored_scores(scores_frame(scored, chosen.ranked, chosen.members), members)
    contrib = scored.contributions.drop(columns="person_idx").copy()
    contrib["latest"] = pd.to_datetime(contrib["latest"]).dt.strftime("%Y-%m-%d")
    contrib = contrib.sort_values(["person_id", "axis", "points", "indicator"], ascending=[True, True, False, True],
                                  kind="stable")
    evidence = scored.points.drop(columns="person_idx").copy()
    evidence["date"] = pd.to_datetime(evidence["date"]).dt.strftime("%Y-%m-%d")
    for col in ("indicator", "axis", "role", "outcome"):
        evidence[col] = evidence[col].astype(object)
    evidence = evidence.sort_values(["person_id", "date", "event_id"], kind="stable")
    keep = stored["person_id"]
    # a rerun with a previous quarter would name the people who left the list; a few hundred rows
    removed = pd.DataFrame({"person_id": members["person_id"].head(300).to_numpy(),
                            "previous_rank": pd.array(range(1, 301), "Int64")[:len(members.head(300))],
                            "previous_rag": "green", "reason": "risk score fell below the cohort cut-off"})
    return {"scores": stored, "contributions": contrib[contrib["person_id"].isin(keep)],
            "evidence": evidence[evidence["person_id"].isin(keep)], "removed": removed}


def frames_for(people: int, seed: int) -> dict[str, pd.DataFrame]:
    folder = CACHE / f"history-seed{seed}-people{people}"
    if not all((folder / f"{name}.parquet").is_file() for name in FRAMES):
        frames = build_frames(people, seed)
        folder.mkdir(parents=True, exist_ok=True)
        for name, frame in frames.items():
            frame.to_parquet(folder / f"{name}.parquet", index=False)
    frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in FRAMES}
    frames["scores"]["rank"] = frames["scores"]["rank"].astype("Int64")
    for col in ("indicator", "axis", "role", "outcome"):  # as the refresh hands them over
        frames["evidence"][col] = frames["evidence"][col].astype(object)
    return frames


def _pg_schema_url(url: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine.dispose()
    return schema, str(sa.engine.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
                       .render_as_string(hide_password=False))


def _drop_schema(url: str, schema: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    engine.dispose()


def time_once(url: str, frames: dict[str, pd.DataFrame]) -> dict:
    store = open_store(url)
    person = frames["evidence"]["person_id"].iloc[len(frames["evidence"]) // 2]
    manifest = MANIFEST | {"cohort_size": 1000, "eligible": 5000, "scored": len(frames["scores"])}
    kwargs = {"manifest": manifest, "audit": {"benchmark": True}, "scores_frame": frames["scores"],
              "contributions_frame": frames["contributions"], "evidence_frame": frames["evidence"],
              "removed_frame": frames["removed"]}
    timings = {}
    start, cpu = time.perf_counter(), time.process_time()
    run_id, _ = store.save_run(as_of=UNTIL, **kwargs)
    timings["save_new_s"] = time.perf_counter() - start
    timings["save_new_cpu_s"] = time.process_time() - cpu  # this process's threads; a busy machine's wall time varies
    start = time.perf_counter()
    run_id, replaced = store.save_run(as_of=UNTIL, **kwargs)
    timings["save_replace_s"] = time.perf_counter() - start
    assert replaced
    start = time.perf_counter()
    _row, _contrib, events = store.person(run_id, person)
    timings["explain_person_s"] = time.perf_counter() - start
    assert len(events) == (frames["evidence"]["person_id"] == person).sum()
    start = time.perf_counter()
    held = store.person_history(person)
    timings["person_history_s"] = time.perf_counter() - start
    assert len(held["evidence"]) == len(events)
    store.engine.dispose()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", help="SQLAlchemy URL of an empty database (default: a SQLite file in a temp folder)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    start = time.perf_counter()
    frames = frames_for(args.people, args.seed)
    load_s = time.perf_counter() - start
    runs = []
    for _ in range(args.repeat):
        if args.url:
            schema, url = _pg_schema_url(args.url)
            try:
                runs.append(time_once(url, frames))
            finally:
                _drop_schema(args.url, schema)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(time_once(f"sqlite:///{tmp}/history.db", frames))
    best = {k: round(min(r[k] for r in runs), 3) for k in runs[0]}
    print(json.dumps({"people": args.people, "backend": sa.engine.make_url(args.url).get_backend_name()
                      if args.url else "sqlite", "rows": {k: len(v) for k, v in frames.items()},
                      "best_s": best, "runs_s": [{k: round(v, 3) for k, v in r.items()} for r in runs],
                      "frames_load_s": round(load_s, 2), "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}),
          flush=True)


if __name__ == "__main__":
    main()
