"""Arrow-backed column helpers agree with pandas; the whole-point driver bootstrap agrees with the exact one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hkc.audit.drivers as drivers
from hkc.definitions.audit_spec import AuditSpec
from hkc.frames import index_in, isin, sort_order, text_rank

ids = st.lists(st.text(alphabet="ab\u00e9Z09 ", max_size=4), max_size=40)


@given(ids, ids)
def test_isin_matches_pandas(values, wanted):
    series = pd.Series(values, dtype="str")
    assert isin(series, wanted).tolist() == series.astype(object).isin(set(wanted)).tolist()
    assert isin(series, set(wanted)).tolist() == isin(series, pd.Series(wanted, dtype="str")).tolist()


def test_isin_never_matches_missing():
    series = pd.Series(["a", None, "b"], dtype="str")
    assert isin(series, ["a", "b"]).tolist() == [True, False, True]


@given(ids)
def test_text_rank_is_a_stable_sorted_position(values):
    rank = text_rank(pd.Series(values, dtype="str"))
    expected = sorted(range(len(values)), key=lambda i: (values[i], i))
    assert [int(i) for i in np.argsort(rank)] == expected


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.text(alphabet="xyz", min_size=1, max_size=3)),
                unique_by=lambda t: t[2], max_size=50))
def test_sort_order_equals_a_full_sort_with_the_text_last(rows):
    a = np.array([r[0] for r in rows], dtype=np.int64)
    b = np.array([r[1] for r in rows], dtype=np.int64)
    text = pd.Series([r[2] for r in rows], dtype="str")
    order = sort_order([a, -b], tiebreak=text)
    expected = sorted(range(len(rows)), key=lambda i: (rows[i][0], -rows[i][1], rows[i][2]))
    assert order.tolist() == expected


def _population(n: int, seed: int):
    rng = np.random.default_rng(seed)
    people = pd.DataFrame({"person_id": [f"p{i}" for i in range(n)],
                           "ethnicity": rng.choice(["Black", "White", "Asian"], n, p=[0.2, 0.7, 0.1])})
    with_points = rng.random(n) < 0.5
    rows = []
    for i in np.flatnonzero(with_points):
        black = people.at[i, "ethnicity"] == "Black"
        rows.append((f"p{i}", "risk", "knife_possession", 1, "2026-01-01", round(rng.gamma(2, 8), 1)))
        if rng.random() < (0.5 if black else 0.3):
            rows.append((f"p{i}", "risk", "knife_intel", 1, "2026-01-01", round(rng.gamma(2, 3), 1)))
    contributions = pd.DataFrame(rows, columns=["person_id", "axis", "indicator", "count", "latest", "points"])
    flags = pd.DataFrame({"indicator": ["knife_possession", "knife_intel"], "intelligence": [False, True],
                          "proactive": [False, False]})
    return contributions, people, flags


def test_whole_point_bootstrap_matches_the_exact_one(monkeypatch):
    """At force scale the driver bootstrap merges people to whole points: same estimates, intervals alike."""
    contributions, people, flags = _population(6000, seed=3)
    spec = AuditSpec()
    kwargs = dict(attribute="ethnicity", reference="White", indicator_flags=flags, spec=spec)
    exact = drivers.driver_decomposition(contributions, people, **kwargs)
    monkeypatch.setattr(drivers, "MAX_EXACT_CELLS", 0)
    coarse = drivers.driver_decomposition(contributions, people, **kwargs)
    assert exact["provenance"]["bootstrap_resolution"] == "exact"
    assert coarse["provenance"]["bootstrap_resolution"].startswith("nearest whole point")
    assert coarse["provenance"]["bootstrap_cells"] < exact["provenance"]["bootstrap_cells"]
    for e, c in zip(exact["groups"], coarse["groups"], strict=True):
        for key in ("mean_points", "intelligence_share", "ratio", "intelligence_share_ratio"):
            assert c.get(key) == e.get(key)  # point estimates are computed exactly either way
        for key in ("mean_points_ci", "intelligence_share_ci", "ratio_ci", "intelligence_share_ratio_ci"):
            if e.get(key) is None:
                continue
            width = e[key][1] - e[key][0]
            assert c[key] == pytest.approx(e[key], abs=0.15 * width)


@given(ids, ids)
def test_index_in_matches_get_indexer_on_unique_lookups(values, lookup):
    lookup = list(dict.fromkeys(lookup))
    expected = pd.Index(lookup, dtype=object).get_indexer(pd.Index(values, dtype=object)).tolist()
    assert index_in(pd.Series(values, dtype="str"), pd.Series(lookup, dtype="str")).tolist() == expected


@given(st.lists(st.tuples(st.integers(0, 5), st.floats(0, 3, allow_nan=False), st.integers(0, 2)), max_size=60),
       st.integers(0, 3))
def test_sorting_in_two_threads_gives_the_one_thread_order(rows, seed):
    import hkc.frames as frames

    rng = np.random.default_rng(seed)
    keys = [np.array([r[i] for r in rows]) for i in range(3)]
    text = pd.Series([f"e{rng.integers(0, 10**6):07d}-{i}" for i in range(len(rows))], dtype="str")
    one = frames.sort_rows(keys, tiebreak=text)
    previous = frames.PARALLEL_ROWS, frames.THREADS
    try:
        frames.PARALLEL_ROWS, frames.THREADS = 0, 2
        two = frames.sort_rows(keys, tiebreak=text)
    finally:
        frames.PARALLEL_ROWS, frames.THREADS = previous
    assert one[0].tolist() == two[0].tolist()
    assert all(a.tolist() == b.tolist() for a, b in zip(one[1], two[1], strict=True))


def test_event_points_are_the_same_on_one_or_two_threads(monkeypatch):
    import datetime as dt

    import hkc.matrix.features as features
    from hkc.definitions.deployment import load_definitions
    from hkc.extract.load import load_extract
    from hkc.synth import generate_force, write_force

    defs = load_definitions()
    as_of = dt.date(2026, 9, 30)
    force = generate_force(people=3000, seed=4, until=as_of, catalogue=defs.catalogue)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        write_force(force, Path(tmp) / "x", fmt="parquet")
        extract = load_extract(Path(tmp) / "x", catalogue=defs.catalogue, extract_date=as_of)
    one = features.event_points(extract.events, catalogue=defs.catalogue, as_of=as_of)
    monkeypatch.setattr(features, "PARALLEL_ROWS", 0)
    monkeypatch.setattr("hkc.frames.PARALLEL_ROWS", 0)
    monkeypatch.setattr(features, "THREADS", 2)
    monkeypatch.setattr("hkc.frames.THREADS", 2)
    two = features.event_points(extract.events, catalogue=defs.catalogue, as_of=as_of)
    pd.testing.assert_frame_equal(one, two)


def test_bootstrap_cells_keep_a_missing_sum_apart_from_other_groups():
    group, merged, _ = drivers._cells(np.array([0, 1]), np.array([[2.0, 0, 0], [np.nan, 0, 0]]), np.array([5, 7]), 2,
                                      decimals=6)
    assert sorted(zip(group.tolist(), merged.tolist(), strict=True)) == [(0, 5), (1, 7)]
