"""Time peer mapping on a synthetic force: network, peer groups, periphery and places.

    python -m benchmarks.peers --people 1000000 [--seed S] [--cohort-size N]

Generates a force with :func:`hkc.synth.generate_force`, writes it as Parquet, loads it, scores it
and selects the cohort as a refresh does (the repository's definitions), then times
:func:`hkc.matrix.peers.map_peers` (and, separately, the vectorised self-join that builds the pairs).
Prints one JSON object: seconds per stage, edges, the network's diagnostics, the sizes of the
outputs, and memory: the process's peak resident set, and (on Linux, where the high-water mark
can be reset) the peak during peer mapping alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

from hkc.definitions import load_definitions
from hkc.extract import load_extract
from hkc.matrix import co_involvement, map_peers, score_people, select_cohort
from hkc.synth import generate_force, last_quarter_end, write_force

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _reset_high_water_mark() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run(*, people: int, seed: int, until: dt.date, cohort_size: int | None, out: Path) -> dict:
    definitions = load_definitions(cwd=ROOT)
    settings = definitions.settings
    cohort_settings = settings.cohort if cohort_size is None else dataclasses.replace(settings.cohort,
                                                                                      size=cohort_size)
    seconds: dict[str, float] = {}

    def timed(name, fn, *args, **kwargs):
        start = time.perf_counter()
        value = fn(*args, **kwargs)
        seconds[name] = round(time.perf_counter() - start, 2)
        return value

    force = timed("generate", generate_force, people=people, seed=seed, until=until, catalogue=definitions.catalogue)
    timed("write", write_force, force, out, fmt="parquet")
    del force
    gc.collect()
    extract = timed("load", load_extract, out, catalogue=definitions.catalogue, extract_date=until)
    scored = timed("score", score_people, extract.people, extract.events, catalogue=definitions.catalogue,
                   eligibility=settings.eligibility, as_of=until)
    cohort = select_cohort(scored.scores, cohort=cohort_settings, rag=settings.rag)
    cohort_ids = cohort.members["person_id"].tolist()
    gc.collect()

    net = timed("self_join", co_involvement, extract.events, as_of=until, lookback_days=settings.peers.lookback_days)
    pairs = len(net.a)
    del net
    gc.collect()
    rss_before = _status_mb("VmRSS")
    reset = _reset_high_water_mark()
    peer_map = timed("map_peers", map_peers, extract, scored, cohort_ids, settings=settings.peers,
                     places=settings.places, catalogue=definitions.catalogue, as_of=until)
    during = _status_mb("VmHWM") if reset else None
    return {
        "benchmark": "peers",
        "people": people, "seed": seed, "as_of": until.isoformat(), "events": int(len(extract.events)),
        "cohort": len(cohort_ids),
        "seconds": seconds,
        "edges": int(len(peer_map.edges)),
        "pairs": pairs,
        "associates": int(len(peer_map.associates)),
        "peer_groups": int(peer_map.peer_groups["peer_group"].nunique()),
        "peer_group_people": int(len(peer_map.peer_groups)),
        "periphery": int(len(peer_map.periphery)),
        "places": int(len(peer_map.places)),
        "diagnostics": peer_map.diagnostics,
        "peak_rss_mb": {"overall": peak_rss_mb(), "before_map_peers": rss_before,
                        "peak_during_map_peers": during},
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cohort-size", type=int, default=None, help="default: config/hkc.toml [cohort] size")
    parser.add_argument("--until", type=dt.date.fromisoformat, default=last_quarter_end(dt.date.today()),
                        help="extract and as-of date (default: the end of the last complete quarter)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hkc-peers-") as tmp:
        result = run(people=args.people, seed=args.seed, until=args.until, cohort_size=args.cohort_size,
                     out=Path(tmp))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
