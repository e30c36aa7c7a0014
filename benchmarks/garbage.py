"""Reject an extract of garbage with bounded memory: ``hkc validate`` on megabytes of bad lines.

    python -m benchmarks.garbage --megabytes 1000 [--kind fields|lines|bytes] [--clean-megabytes M]
                                 [--command validate|refresh]

Writes a small clean ``people.csv`` and an ``events.csv`` of about ``--megabytes`` MB (after
``--clean-megabytes`` MB of valid rows, default none) of garbage to a temporary folder, then runs
``hkc validate`` (or ``hkc refresh``) on it in a child process and prints one JSON object: wall
seconds, the child's peak resident memory (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``),
its exit code and the error line it printed.  Kinds of garbage:

* ``fields`` (default): lines with the header's ten fields, every one of them invalid (empty ids,
  unknown codes, impossible dates, bad grades) — the worst case, about eight rejects per line;
* ``lines``: random printable text with a random number of commas (mostly malformed lines);
* ``bytes``: random bytes.

Peak memory should not grow with ``--megabytes``: the loader checks a file's first 10,000 rows
before it reads the rest, and a file that is mostly rejected is refused with one line.  Garbage
after ``--clean-megabytes`` of valid rows is found only once the whole file is read, so that run
takes the memory of its rows, as a valid file of as many rows would.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEOPLE = 1_000
HEADER = "event_id,person_id,date,type,role,source,outcome,grade,occurrence_id,location_id\n"
CHUNK = 1 << 20  # bytes written per step


def _people(path: Path) -> None:
    rows = "".join(f"P{i},2008-05-01,M,White,IC1,North,false,true\n" for i in range(PEOPLE))
    path.write_text("person_id,date_of_birth,sex,ethnicity,officer_ethnicity,area,in_care,open_to_social_care\n"
                    + rows)


def _clean(start: int, n: int) -> str:
    return "".join(f"E{i},P{i % PEOPLE},2025-06-01,knife_possession,offender,police,charged,B2,O{i},L{i % 97}\n"
                   for i in range(start, start + n))


def _fields(start: int, n: int, rng: np.random.Generator) -> str:
    """Ten fields per line, each invalid: no event or person id, then junk where codes and dates go."""
    junk = rng.integers(0, 1 << 48, size=n)
    return "".join(f",,{j:x}-{i},t{j % 9973},r{j % 89},s{j % 31},o{j % 7},Z{j % 10},,\n"
                   for i, j in zip(range(start, start + n), junk.tolist(), strict=True))


def _lines(n: int, rng: np.random.Generator) -> str:
    alphabet = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789 ,;-", dtype=np.uint8)
    text = alphabet[rng.integers(0, len(alphabet), size=n * 60)].tobytes().decode("ascii")
    return "\n".join(text[i:i + 60] for i in range(0, len(text), 60)) + "\n"


def write_garbage(folder: Path, *, megabytes: float, kind: str, clean_megabytes: float = 0.0, seed: int = 0) -> Path:
    """Write the extract (``people.csv``, ``events.csv``) and return the folder."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    _people(folder / "people.csv")
    row = 0
    with (folder / "events.csv").open("wb") as fh:
        fh.write(HEADER.encode())
        written, target = 0, int(clean_megabytes * 1e6)
        while written < target:
            text = _clean(row, 10_000).encode()
            row += 10_000
            fh.write(text)
            written += len(text)
        written, target = 0, int(megabytes * 1e6)
        while written < target:
            if kind == "fields":
                text = _fields(row, 20_000, rng).encode()
                row += 20_000
            elif kind == "lines":
                text = _lines(CHUNK // 61, rng).encode()
            else:
                text = rng.bytes(CHUNK)
            fh.write(text)
            written += len(text)
    return folder


def run(*, megabytes: float, kind: str, clean_megabytes: float, folder: Path, command: str = "validate") -> dict:
    start = time.perf_counter()
    extract = write_garbage(folder / "extract", megabytes=megabytes, kind=kind, clean_megabytes=clean_megabytes)
    written = time.perf_counter() - start
    size = (extract / "events.csv").stat().st_size
    args = [sys.executable, "-c", "from cli import main; main()", command, str(extract), "--extract-date", "2026-03-31"]
    if command == "refresh":
        args += ["--as-of", "2026-03-31", "--out", str(folder / "out"), "--db", f"sqlite:///{folder / 'history.db'}"]
    start = time.perf_counter()
    child = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=os.environ | {"HKC_DEBUG": ""})
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    errors = [line for line in child.stderr.splitlines() if line.startswith("error:")]
    return {
        "benchmark": "garbage",
        "command": f"hkc {command}",
        "kind": kind,
        "megabytes": megabytes,
        "clean_megabytes": clean_megabytes,
        "events_bytes": size,
        "exit_code": child.returncode,
        "error": errors[0][:300] if errors else None,
        "error_lines": len(errors),
        "traceback": "Traceback" in child.stderr,
        "seconds": {"write": round(written, 2), "command": round(seconds, 2)},
        "peak_rss_mb": round(peak / (1 << 20) if sys.platform == "darwin" else peak / 1024, 1),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.garbage", description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=100.0, help="garbage in events.csv (MB)")
    parser.add_argument("--kind", choices=("fields", "lines", "bytes"), default="fields")
    parser.add_argument("--clean-megabytes", type=float, default=0.0, help="valid rows before the garbage (MB)")
    parser.add_argument("--command", choices=("validate", "refresh"), default="validate")
    parser.add_argument("--out", type=Path, default=None, help="keep the files here (default: a temporary folder)")
    args = parser.parse_args(argv)
    options = dict(megabytes=args.megabytes, kind=args.kind, clean_megabytes=args.clean_megabytes,
                   command=args.command)
    if args.out is not None:
        result = run(**options, folder=args.out)
    else:
        with tempfile.TemporaryDirectory(prefix="hkc-garbage-") as tmp:
            result = run(**options, folder=Path(tmp))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
