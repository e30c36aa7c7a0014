"""Time a synthetic force end to end: generate, write, then load and validate it.

    python -m benchmarks.synth_validate --people 1000000 [--seed S] [--format parquet|csv] [--dirty F]
    python -m benchmarks.synth_validate --extract DIR [--repeat N]

With ``--extract``, time only the validation of an extract already written (``hkc synth --out DIR
--people 1000000``), ``--repeat`` times, and the two byte-level passes that hold the CSV parser to
each file's own count (``hkc.extract.records``: the cheap line count every CSV gets, and the exact
pass over the quoting that runs only when values span lines), so their share of validation shows.

Prints one JSON object: seconds per stage, rows per file, rejected rows, whether the loader's
rejects match the injected faults exactly, the events per person (mean, median, max: the heavy
tail stays plausible at scale), and the peak resident memory of the process
(``resource.getrusage(...).ru_maxrss``).  The force is dropped before loading, so the peak is the
larger of the generate/write peak and the load peak.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hkc.definitions import load_catalogue, packaged_defaults
from hkc.extract import load_extract
from hkc.extract.csv import data_start
from hkc.extract.records import count_lines, file_blocks, scan_records
from hkc.synth import expected_rejects, generate_force, last_quarter_end, write_force


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1 << 20) if sys.platform == "darwin" else peak / 1024, 1)  # bytes on macOS, KiB on Linux


def run(*, people: int, seed: int, fmt: str, dirty: float, until: dt.date, out: Path) -> dict:
    catalogue = load_catalogue(packaged_defaults() / "features" / "indicators.toml")
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    force = generate_force(people=people, seed=seed, until=until, dirty=dirty, catalogue=catalogue)
    seconds["generate"] = time.perf_counter() - start
    rss_generate = _peak_rss_mb()

    start = time.perf_counter()
    paths = write_force(force, out, fmt=fmt)
    seconds["write"] = time.perf_counter() - start
    expected = expected_rejects(force, fmt) if dirty > 0 else None
    faults = len(force.faults)
    per_person = force.truth_people["events"]
    events_per_person = {"mean": round(float(per_person.mean()), 2), "median": float(per_person.median()),
                         "max": int(per_person.max())}
    del force, per_person
    gc.collect()

    start = time.perf_counter()
    extract = load_extract(out, catalogue=catalogue, extract_date=until)
    seconds["load"] = time.perf_counter() - start

    match = None
    if expected is not None:
        key = ["file", "row", "rule"]
        got = extract.rejects[key].drop_duplicates().sort_values(key).reset_index(drop=True)
        match = got.equals(expected[key].drop_duplicates().sort_values(key).reset_index(drop=True))
    return {
        "benchmark": "synth_validate",
        "people": people, "seed": seed, "format": fmt, "dirty": dirty, "until": until.isoformat(),
        "rows": {name: c["read"] for name, c in extract.counts.items()},
        "rejected": {name: c["rejected"] for name, c in extract.counts.items()},
        "faults_injected": faults,
        "events_per_person": events_per_person,
        "rejects_match_faults": match,
        "reconciles": extract.reconciles(),
        "seconds": {k: round(v, 2) for k, v in seconds.items()} | {"total": round(sum(seconds.values()), 2)},
        "bytes": {name: path.stat().st_size for name, path in paths.items() if name in ("people", "events")},
        "peak_rss_mb": {"after_generate": rss_generate, "overall": _peak_rss_mb()},
        "python": platform.python_version(),
    }


def validate_only(folder: Path, *, repeat: int, until: dt.date) -> dict:
    """Seconds to load and validate ``folder`` (each run), and the reconciliation passes alone."""
    catalogue = load_catalogue(packaged_defaults() / "features" / "indicators.toml")
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        extract = load_extract(folder, catalogue=catalogue, extract_date=until)
        runs.append(time.perf_counter() - start)
    passes: dict[str, float] = {}
    for name, path in extract.files.items():
        if path.suffix != ".csv":
            continue
        offset, line = data_start(path)
        for label, count in (("count_lines", count_lines), ("scan_records", scan_records)):
            start = time.perf_counter()
            count(file_blocks(path, offset), file=path.name, first_line=line)
            passes[f"{name}.{label}"] = round(time.perf_counter() - start, 3)
    cheap = sum(v for k, v in passes.items() if k.endswith("count_lines"))
    return {
        "benchmark": "validate", "extract": str(folder),
        "rows": {name: c["read"] for name, c in extract.counts.items()},
        "seconds": {"runs": [round(r, 2) for r in runs], "min": round(min(runs), 2),
                    "median": round(statistics.median(runs), 2)},
        "reconciliation_seconds": passes,
        "cheap_pass_share_of_min": round(cheap / min(runs), 3),
        "peak_rss_mb": _peak_rss_mb(), "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.synth_validate", description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=("csv", "parquet"), default="parquet")
    parser.add_argument("--dirty", type=float, default=0.0)
    parser.add_argument("--until", type=dt.date.fromisoformat, default=last_quarter_end(dt.date.today()),
                        help="extract date (default: the end of the last complete quarter)")
    parser.add_argument("--out", type=Path, default=None, help="keep the files here (default: a temporary folder)")
    parser.add_argument("--extract", type=Path, default=None,
                        help="time only the validation of this extract (already written), nothing generated")
    parser.add_argument("--repeat", type=int, default=3, help="with --extract: validations to time")
    args = parser.parse_args(argv)
    if args.extract is not None:
        print(json.dumps(validate_only(args.extract, repeat=args.repeat, until=args.until)))
        return
    options = dict(people=args.people, seed=args.seed, fmt=args.format, dirty=args.dirty, until=args.until)
    if args.out is not None:
        result = run(**options, out=args.out)
    else:
        with tempfile.TemporaryDirectory(prefix="hkc-synth-") as tmp:
            result = run(**options, out=Path(tmp))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
