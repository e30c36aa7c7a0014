"""Writing a synthetic force (one extract, or one per quarter), and the rejects the validator should
report for it.

``malformed_row`` exists only in CSV (a line with one field too many): ``force.events`` holds it
as a row whose ``location_id`` contains a comma, and :func:`write_force` leaves it out of Parquet
files.  ``force.faults`` describes the CSV layout; :func:`faults_for` gives the faults as the
validator reports them for another format, and :func:`expected_rejects` adds the
``person_rejected`` cascade.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hkc.errors import OutputError
from hkc.outputs import replace_atomically
from hkc.synth.arrow import scalar
from hkc.synth.effect import EFFECT_TRUTH
from hkc.synth.faults import INSERTED_RULES
from hkc.synth.force import SyntheticForce
from hkc.synth.quarter_truth import truth_tables as quarter_truth_tables
from hkc.synth.quarters import QuarterlyForce

Format = Literal["csv", "parquet"]


def _renumber(faults: pd.DataFrame, fmt: Format) -> pd.DataFrame:
    """Faults given for CSV, as the validator reports them for ``fmt``."""
    faults = faults.copy()
    if fmt == "csv":
        return faults.reset_index(drop=True)
    malformed = np.sort(faults.loc[faults["rule"] == "malformed_row", "row"].to_numpy())
    faults = faults[faults["rule"] != "malformed_row"].copy()
    events = (faults["file"] == "events.csv").to_numpy()
    rows = faults["row"].to_numpy()
    faults["row"] = rows - 1 - np.where(events, np.searchsorted(malformed, rows), 0)
    faults["file"] = faults["file"].str.replace(".csv", f".{fmt}", regex=False)
    return faults.reset_index(drop=True)


def faults_for(force: SyntheticForce, fmt: Format = "csv") -> pd.DataFrame:
    """The injected faults as the validator reports them for files written in ``fmt``.

    Parquet has no malformed lines: those rows are left out of the file, later rows move up, and
    rows are 1-based positions instead of CSV line numbers."""
    return _renumber(force.faults, fmt)


def expected_rejects(force: SyntheticForce, fmt: Format = "csv") -> pd.DataFrame:
    """Every row the validator should reject, columns ``file, row, column, rule``: the injected
    faults plus the ``person_rejected`` cascade (every event of a person whose own ``people`` row
    has a fault)."""
    faults = force.faults
    people_faults = faults[(faults["file"] == "people.csv") & ~faults["rule"].isin(INSERTED_RULES)]
    ids = force.people["person_id"].str.strip().to_numpy()
    quarantined = pd.Index(ids[people_faults["row"].to_numpy() - 2])
    person = force.events["person_id"].str.strip()
    cascade = np.flatnonzero(person.isin(quarantined).to_numpy())
    extra = pd.DataFrame({"file": "events.csv", "row": cascade + 2, "column": "person_id",
                          "rule": "person_rejected", "value": person.to_numpy()[cascade]})
    out = _renumber(pd.concat([faults, extra], ignore_index=True), fmt)
    return (out[["file", "row", "column", "rule"]].sort_values(["file", "row", "rule"], kind="stable")
            .reset_index(drop=True))


def _csv_writer(table: pa.Table, *, bom: bool, crlf: bool):
    """Write ``table`` as CSV without quoting (values never hold quotes, commas or newlines, except the
    deliberate malformed lines)."""
    eol = "\r\n" if crlf else "\n"

    def write(path: Path) -> None:
        with path.open("wb") as fh:
            fh.write(("\ufeff" if bom else "").encode() + (",".join(table.column_names) + eol).encode())
            for start in range(0, table.num_rows, 1 << 20):
                part = table.slice(start, 1 << 20)
                cols = [c.cast(pa.large_string()).combine_chunks() if isinstance(c, pa.ChunkedArray)
                        else c.cast(pa.large_string()) for c in part.columns]
                cols = [pc.fill_null(c, scalar("")) for c in cols]
                line = pc.binary_join_element_wise(*cols, scalar(","))
                line = pc.binary_join_element_wise(line, scalar(""), scalar(eol))
                offsets = np.frombuffer(line.buffers()[1], dtype=np.int64)[line.offset:line.offset + len(line) + 1]
                data = line.buffers()[2]
                if data is not None and len(line):
                    fh.write(memoryview(data)[int(offsets[0]):int(offsets[-1])])
    return write


def _arrow(frame: pd.DataFrame, *, text: bool = False) -> pa.Table:
    """``frame`` as an Arrow table without pandas metadata; with ``text``, every column as text."""
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    if text:
        table = pa.table({name: pc.cast(col, pa.large_string()) for name, col in
                          zip(table.column_names, table.columns, strict=True)})
    return table


def write_extract_files(out: Path, tables: dict[str, pd.DataFrame | pa.Table], *, fmt: Format,
                        dirty: bool) -> dict[str, Path]:
    """Write each table as ``out/<name>.<fmt>`` (atomically; a dirty extract's CSVs with a UTF-8 BOM and
    CRLF) and return the paths by name.  Refuses a folder holding an extract file of the other format."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    other = "parquet" if fmt == "csv" else "csv"
    clash = [out / f"{name}.{other}" for name in ("people", "events", "population", "aliases")
             if (out / f"{name}.{other}").exists()]
    if clash:
        raise OutputError(f"{clash[0]} exists; remove it or write --format {other}, so the folder holds one extract")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the folder ({exc.strerror}); choose another --out") from None
    paths: dict[str, Path] = {}
    for name, frame in tables.items():
        path = out / f"{name}.{fmt}"
        table = frame if isinstance(frame, pa.Table) else _arrow(frame)
        if fmt == "csv":
            replace_atomically(path, _csv_writer(table, bom=dirty, crlf=dirty))
        else:
            replace_atomically(path, lambda tmp, table=table: pq.write_table(table, tmp))
        paths[name] = path
    return paths


def write_truth_file(path: Path, frame: pd.DataFrame) -> Path:
    """Write a ground-truth table as plain CSV, every column as text (atomically)."""
    replace_atomically(path, _csv_writer(_arrow(frame, text=True), bom=False, crlf=False))
    return path


def write_force(force: SyntheticForce, out: Path, *, fmt: Format = "csv") -> dict[str, Path]:
    """Write ``people``, ``events`` and ``population`` into ``out``, and the truth into ``out/_truth/``.

    Each file is written to a temporary name and renamed into place.  CSVs of a dirty force get a
    UTF-8 BOM and CRLF line endings.  Returns the path of every file written, by name:
    ``people, events, population, faults, truth_people, groups, locations``.
    """
    out = Path(out)
    events = force.events
    if fmt == "parquet":
        malformed = force.faults.loc[(force.faults["rule"] == "malformed_row"), "row"].to_numpy() - 2
        if len(malformed):
            keep = np.ones(len(events), dtype=bool)
            keep[malformed] = False
            events = events[keep]
    population = force.population.assign(count=force.population["count"].astype(str))
    paths = write_extract_files(out, {"people": force.people, "events": events, "population": population},
                                fmt=fmt, dirty=force.dirty > 0)
    (out / "_truth").mkdir(exist_ok=True)
    truth = {"faults": faults_for(force, fmt), "truth_people": force.truth_people, "groups": force.groups,
             "locations": force.locations}
    for name, frame in truth.items():
        paths[name] = write_truth_file(out / "_truth" / ("people.csv" if name == "truth_people" else f"{name}.csv"),
                                       frame)
    return paths


def extract_folder(out: Path, date: dt.date) -> Path:
    """The folder of the extract dated ``date`` under ``out``: ``out/YYYY-MM-DD``."""
    return Path(out) / date.isoformat()


def _without_malformed(events: pa.Table, faults: pd.DataFrame) -> pa.Table:
    """Parquet has no lines, so no malformed ones: those rows are left out, as :func:`write_force` does."""
    malformed = faults.loc[(faults["file"] == "events.csv") & (faults["rule"] == "malformed_row"), "row"].to_numpy()
    if not len(malformed):
        return events
    keep = np.ones(events.num_rows, dtype=bool)
    keep[malformed - 2] = False
    return events.filter(pa.array(keep))


def write_quarters(force: QuarterlyForce, out: Path, *, fmt: Format = "csv",
                   progress: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Write one extract folder per quarter end (``out/2024-03-31/`` ...) and the truth into ``out/_truth/``.

    An extract folder holds ``people``, ``events``, ``population`` and, when some id change has been
    announced by its date, ``aliases`` (in ``fmt``; a dirty force's CSVs with a UTF-8 BOM and CRLF);
    the truth (:func:`hkc.synth.quarter_truth.truth_tables`, plus ``faults`` with the ``extract`` each
    is in) is plain CSV.  Files are written atomically.  Refuses an ``out`` that holds an extract
    folder of other quarters, so one folder never mixes two forces.  Returns every path written, by
    name (``2024-03-31/people``, ``_truth/events``, ...); ``progress(message)`` is told each extract.

    A force with a programme of known effect (``force.treatment``, :mod:`hkc.synth.effect`) holds
    its meeting after each extract is written — the list made from that extract by the effect's
    lister, the adoptions, the events removed from later extracts — and its truth goes to
    ``_truth/`` with the interventions file, which is also written as ``out/interventions.csv``.
    """
    out = Path(out)
    wanted = {d.isoformat() for d in force.quarters} | {"_truth"}
    stray = sorted(p.parent for p in [*out.glob("people.*"), *out.glob("*/people.*")] if p.parent.name not in wanted)
    if stray:
        what = "a single extract" if stray[0] == out else "an extract of another quarter"
        raise OutputError(f"{stray[0]}: holds {what}; choose a new --out, so the folder holds one force's quarters")
    paths: dict[str, Path] = {}
    faults, counts = [], []
    treatment = force.treatment
    if treatment is not None:
        treatment.reset()  # the meetings happen again as the extracts are written
    for j, d in enumerate(force.quarters):
        ext = force.extract(j)
        folder = extract_folder(out, d)
        events = _without_malformed(ext.events, ext.faults) if fmt == "parquet" else ext.events
        tables: dict[str, pd.DataFrame | pa.Table] = {
            "people": ext.people, "events": events, "population": ext.population.astype({"count": str})}
        if len(ext.aliases):
            tables["aliases"] = ext.aliases
        written = write_extract_files(folder, tables, fmt=fmt, dirty=force.dirty > 0)
        if not len(ext.aliases):
            (folder / f"aliases.{fmt}").unlink(missing_ok=True)  # left by an earlier run of other settings
        paths.update({f"{d.isoformat()}/{name}": path for name, path in written.items()})
        faults.append(_renumber(ext.faults, fmt).assign(extract=d.isoformat()))
        counts.append({"extract": d.isoformat(), "faults": len(ext.faults)})
        if progress is not None:
            progress(f"{d.isoformat()}: {ext.people.num_rows:,} people, {events.num_rows:,} events, "
                     f"{len(ext.aliases):,} announced id changes")
        del ext, events, tables
        if treatment is not None:
            met = treatment.meet(j, d, treatment.effect.lister(folder, d))
            if progress is not None:
                progress(f"{d.isoformat()}: {met['listed']:,} listed, {met['adopted']:,} adopted, {met['removed']:,} "
                         "later knife events removed by the programme's effect")
    truth = quarter_truth_tables(force)
    truth["extracts"] = truth["extracts"].merge(pd.DataFrame(counts), on="extract")
    truth["faults"] = pd.concat(faults, ignore_index=True)[["extract", "file", "row", "column", "rule", "value"]]
    (out / "_truth").mkdir(parents=True, exist_ok=True)
    for name, frame in truth.items():
        paths[f"_truth/{name}"] = write_truth_file(out / "_truth" / f"{name}.csv", frame)
    if "interventions" in truth:
        paths["interventions"] = write_truth_file(out / "interventions.csv", truth["interventions"])
    else:  # left by an earlier run with an effect
        for stale in (out / "interventions.csv", *(out / "_truth" / f"{name}.csv" for name in EFFECT_TRUTH)):
            stale.unlink(missing_ok=True)
    return paths
