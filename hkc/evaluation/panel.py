"""The evaluation panel: its columns, its checks, and the samples the designs draw from it.

The panel is one row per (person, cohort quarter) for every person *eligible* at that quarter —
listed or not — with their rank, score and the quarter's cut-off, outcome counts in the window
before and after the cohort date, and the exposure (years) each window really covered (less than
the window when the person aged out or the extract ends).  Every design reads this one frame, so
its rules live here:

* :func:`check_panel` — a validated copy (types, ranges, one row per person and quarter, one
  cut-off per quarter), or one plain line saying what is wrong;
* :func:`secondary_outcomes` — the optional outcome pairs ``pre_<name>``/``post_<name>``;
* :func:`near_miss` — the eligible people ranked just below the cut-off in the same quarter;
* :func:`never_listed` — eligible rows of people listed in no quarter of the panel;
* :func:`other_listings` — whether the person was in the group at another quarter within the
  window before or after (the near miss listed next quarter; the listed, listed last quarter too);
* :func:`long_rows` — two rows per panel row (before, after), the shape the count models fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hkc.errors import HkcError

__all__ = ["REQUIRED", "GROUPS", "check_panel", "secondary_outcomes", "indicator_columns",
           "near_miss", "never_listed", "other_listings", "long_rows"]

# column -> kind ("id", "date", "bool", "count", "number", "text")
REQUIRED = {
    "person_id": "id", "cohort": "date", "listed": "bool", "rank": "count", "score": "number",
    "cutoff": "number", "pre_events": "count", "post_events": "count", "pre_years": "number",
    "post_years": "number", "age": "number", "sex": "text", "treated": "bool",
}
# which column defines the group a design evaluates: listing (intention to treat) or treatment
GROUPS = {"listed": "intention to treat: everyone listed", "treated": "treatment on the treated: those who "
          "received an intervention"}


def _fail(message: str) -> None:
    raise HkcError(f"evaluation panel: {message}")


def check_panel(panel: pd.DataFrame) -> pd.DataFrame:
    """A checked copy of ``panel``: dates as ``datetime.date``, flags as bool, counts as int.

    Raises :class:`~hkc.errors.HkcError` (one line) when a required column is missing or empty,
    a count is negative or not whole, an exposure is negative, a (person, quarter) pair repeats,
    a quarter has more than one cut-off, or a rank is below 1.
    """
    missing = [c for c in REQUIRED if c not in panel.columns]
    if missing:
        _fail(f"missing column(s) {', '.join(missing)}")
    out = panel.copy()
    for column, kind in REQUIRED.items():
        if out[column].isna().any():
            _fail(f"column {column} has {int(out[column].isna().sum())} empty value(s)")
        if kind == "date":
            out[column] = pd.to_datetime(out[column], errors="coerce", format="ISO8601")
            if out[column].isna().any():
                _fail(f"column {column} holds value(s) that are not dates")
            out[column] = out[column].dt.date
        elif kind == "bool":
            if not out[column].isin([True, False, 0, 1]).all():
                _fail(f"column {column} must be true/false")
            out[column] = out[column].astype(bool)
        elif kind in ("count", "number"):
            values = pd.to_numeric(out[column], errors="coerce")
            if values.isna().any() or not np.isfinite(values).all():
                _fail(f"column {column} holds value(s) that are not numbers")
            if kind == "count":
                if (values < 0).any() or (values != np.round(values)).any():
                    _fail(f"column {column} must hold whole numbers of 0 or more")
                values = values.astype(np.int64)
            out[column] = values
        else:
            out[column] = out[column].astype(str)
    for column in ("pre_years", "post_years"):
        if (out[column] < 0).any():
            _fail(f"column {column} (exposure in years) must not be negative")
    if (out["rank"] < 1).any():
        _fail("column rank must start at 1 (1 = top)")
    if out.duplicated(["person_id", "cohort"]).any():
        _fail("a person appears more than once in the same cohort quarter")
    if (out.groupby("cohort")["cutoff"].nunique() > 1).any():
        _fail("a cohort quarter has more than one cut-off")
    for name in secondary_outcomes(out):
        for column in (f"pre_{name}", f"post_{name}"):
            values = pd.to_numeric(out[column], errors="coerce")
            if values.isna().any() or (values < 0).any():
                _fail(f"column {column} must hold counts of 0 or more")
            out[column] = values
    # one order whatever order the rows came in, so every design gives the same answer on a shuffled panel
    return out.sort_values(["cohort", "person_id"], kind="stable").reset_index(drop=True)


def secondary_outcomes(panel: pd.DataFrame) -> list[str]:
    """Names with both ``pre_<name>`` and ``post_<name>`` columns, other than the main outcome."""
    names = [c[4:] for c in panel.columns if c.startswith("pre_")]
    return [n for n in names if f"post_{n}" in panel.columns and n not in ("events", "years")]


def indicator_columns(panel: pd.DataFrame) -> list[str]:
    """The indicator-count columns (prefix ``n_``), in panel order."""
    return [c for c in panel.columns if c.startswith("n_")]


def near_miss(panel: pd.DataFrame, group: str = "listed", *, width: float = 1.0) -> pd.DataFrame:
    """The comparison rows: eligible people in the same quarter ranked just below the cut-off.

    With ``N`` listed in a quarter, ranks ``N+1 .. N+ceil(width*N)`` (``width`` 1: ranks N+1..2N),
    not listed and not in ``group`` (so a person treated without being listed is not a comparison).
    """
    listed_n = panel.groupby("cohort")["listed"].transform("sum")
    span = np.ceil(width * listed_n)
    below = (panel["rank"] > listed_n) & (panel["rank"] <= listed_n + span)
    return panel[below & ~panel["listed"] & ~panel[group]]


def never_listed(panel: pd.DataFrame, group: str = "listed") -> pd.DataFrame:
    """Eligible rows of people who are listed (and in ``group``) in no quarter of the panel."""
    ever = panel.loc[panel["listed"] | panel[group], "person_id"].unique()
    return panel[~panel["person_id"].isin(ever)]


def other_listings(panel: pd.DataFrame, group: str = "listed", *, window_days: int = 365) -> pd.DataFrame:
    """For each row: was the person in ``group`` at another panel quarter within the window before
    (``before``) or after (``after``) this row's cohort date?

    Diagnostics, not adjustments: the near miss are often listed a quarter later (their window
    after then holds programme time, which pulls a comparison towards no effect), and the listed
    were often listed a quarter earlier (their window before holds programme time).  Allowing for
    either in the model is worse than reporting it: a later listing is *caused* by the events in
    the window after, so adjusting for it biases the estimate (tried, as each window's share of
    programme time: it moved a planted -30% to +15%, and to -3% counting earlier listings only).  Listings before the panel's first quarter are unknown here and count as none.
    """
    day = (pd.to_datetime(panel["cohort"]) - pd.Timestamp("2000-01-01")).dt.days.to_numpy()
    mine = pd.DataFrame({"person_id": panel["person_id"].to_numpy(), "day": day, "row": np.arange(len(panel))})
    listings = mine[panel[group].to_numpy(dtype=bool)][["person_id", "day"]].rename(columns={"day": "listed_day"})
    pairs = mine.merge(listings, on="person_id")
    gap = pairs["listed_day"] - pairs["day"]
    out = pd.DataFrame({"before": False, "after": False}, index=np.arange(len(panel)))
    out.loc[pairs.loc[(gap < 0) & (gap >= -window_days), "row"].unique(), "before"] = True
    out.loc[pairs.loc[(gap > 0) & (gap <= window_days), "row"].unique(), "after"] = True
    return out.set_axis(panel.index)


def long_rows(rows: pd.DataFrame, outcome: str = "events") -> pd.DataFrame:
    """Two rows per panel row — ``post`` 0 (the window before) and 1 (after) — with ``count``
    and ``years``; rows with no exposure in a window are dropped from that window."""
    pre = rows.assign(post=0, count=rows[f"pre_{outcome}"], years=rows["pre_years"])
    post = rows.assign(post=1, count=rows[f"post_{outcome}"], years=rows["post_years"])
    both = pd.concat([pre, post], ignore_index=True)
    return both[both["years"] > 0].reset_index(drop=True)
