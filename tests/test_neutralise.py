"""Spreadsheet-formula neutralising: the vectorised frame version equals the cell-by-cell rule."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from hkc.outputs.files import neutralise, neutralise_frame

cells = st.lists(st.one_of(st.none(), st.text(alphabet="=+-@\t\rab1 '", max_size=4)), max_size=30)


@given(cells)
def test_every_column_type_is_neutralised_like_each_cell(values):
    expected = [None if v is None else neutralise(v) for v in values]
    for dtype in (object, "str", "category"):
        column = pd.Series(values, dtype=dtype)
        got = neutralise_frame(pd.DataFrame({"c": column}))["c"]
        assert [None if pd.isna(v) else v for v in got.astype(object)] == expected, dtype


def test_numbers_dates_and_headers():
    frame = pd.DataFrame({"=sum": [-1.5, 2.0], "when": pd.to_datetime(["2026-01-01", "2026-02-01"]),
                          "mixed": ["-x", 3]})
    out = neutralise_frame(frame)
    assert list(out.columns) == ["'=sum", "when", "mixed"]
    assert out["'=sum"].tolist() == [-1.5, 2.0] and out["mixed"].tolist() == ["'-x", 3]
    assert out["when"].equals(frame["when"])


def test_categories_that_would_merge_fall_back_to_cells():
    frame = pd.DataFrame({"c": pd.Categorical(["=a", "'=a", "b"])})
    assert neutralise_frame(frame)["c"].astype(object).tolist() == ["'=a", "'=a", "b"]

