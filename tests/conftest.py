"""Shared fixtures: the packaged indicator catalogue and a factory that writes small extracts."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hkc.definitions.catalogue import Catalogue, load_catalogue

Rows = Iterable[Mapping[str, object]] | pd.DataFrame


@pytest.fixture(scope="session", autouse=True)
def hkc_home(tmp_path_factory) -> Iterator[Path]:
    """hkc's data folder (where the packaged defaults keep the history) in a temporary folder, never the
    tester's home: a test that forgets --db writes here."""
    home = tmp_path_factory.mktemp("hkc-home")
    before = os.environ.get("HKC_HOME")
    os.environ["HKC_HOME"] = str(home)
    yield home
    if before is None:
        os.environ.pop("HKC_HOME", None)
    else:
        os.environ["HKC_HOME"] = before


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue(Path(__file__).parents[1] / "features/indicators.toml")


def _table(rows: Rows) -> tuple[list[str], list[list[str]]]:
    """Column names (in order of first appearance) and rows of text; absent keys and None are ''."""
    records = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else [dict(r) for r in rows]
    names = list(rows.columns) if isinstance(rows, pd.DataFrame) else list(dict.fromkeys(k for r in records for k in r))
    return names, [["" if r.get(k) is None else str(r.get(k)) for k in names] for r in records]


def _csv_line(fields: Iterable[str]) -> str:
    """One CSV record (RFC 4180): a field holding a comma, quote or line break is quoted."""
    return ",".join('"' + f.replace('"', '""') + '"' if re.search(r'[",\r\n]', f) else f for f in fields) + "\n"


def _write(path: Path, rows: Rows, fmt: str) -> None:
    names, values = _table(rows)
    if fmt == "csv":
        path.write_text("".join(_csv_line(r) for r in [names, *values]), encoding="utf-8", newline="")
    else:
        columns = {n: pa.array([v[i] for v in values], pa.string()) for i, n in enumerate(names)}
        pq.write_table(pa.table(columns), path)


@pytest.fixture
def write_extract() -> Callable[..., Path]:
    """``write_extract(folder, people_rows, events_rows, fmt="csv", population_rows=None) -> folder``.

    Rows are mappings (or a DataFrame) of column -> value, written as text; a column is every key
    seen, in order of first appearance.  ``fmt`` is ``"csv"`` or ``"parquet"``.
    """

    def write(folder: Path, people_rows: Rows, events_rows: Rows, fmt: Literal["csv", "parquet"] = "csv",
              population_rows: Rows | None = None) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files = {"people": people_rows, "events": events_rows, "population": population_rows}
        for name, rows in files.items():
            if rows is not None:
                _write(folder / f"{name}.{fmt}", rows, fmt)
        return folder

    return write


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> Iterator[str]:
    """An empty history database: a SQLite file, then a PostgreSQL schema of its own (see ``tests/pg.py``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'history.db'}"
        return
    from tests.pg import fresh_schema, pg_url

    with fresh_schema(pg_url()) as url:
        yield url
