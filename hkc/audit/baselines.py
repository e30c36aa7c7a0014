"""Cohort composition against several baselines, none privileged.

Each group's share of the cohort is compared with its share of everyone scored, and of any other
baseline given: a subset of the scored people (e.g. those convicted of a weapon offence in the
window) or a table of counts (e.g. the resident population, age-matched with
:func:`age_matched_population`).  The spec's pooled comparisons (``ethnicity (pooled)``) are
compared too.  Every share and ratio carries a bootstrap interval, or an exact one where a count
behind it is under the small-cell threshold (Clopper–Pearson for the cohort share, divided by a
table's fixed share; Katz's log interval against a sample, which treats the cohort and the sample as
independent and so errs wide when the cohort is drawn from the sample, as it is from everyone
scored).  A ratio is flagged unless the cohort or the sample has fewer than ``small_cell`` people.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hkc.audit.bootstrap import bootstrap_intervals, finite_or_none, interval_or_none
from hkc.audit.columns import NO_COLUMN, group_labels, poolings
from hkc.audit.exact import rate_interval, ratio_interval
from hkc.definitions import AGE_BAND, AuditSpec, flag_raised
from hkc.errors import ConfigError, ExtractError, HkcError

__all__ = ["BASELINE_LABELS", "BAD_BASELINE", "age_band", "age_matched_population", "composition_baselines"]


BASELINE_LABELS = {
    "scored": "everyone scored",
    "population": "the resident population (age-matched)",
    "convicted": "people convicted of a weapon offence in the window",
}
BAD_BASELINE = ("baseline {name!r}: expected a boolean Series over the scored people (a subset) or a DataFrame of "
                "counts with a 'count' column and group columns, got {kind}")


def age_band(ages: pd.Series | np.ndarray, bands: Sequence[str]) -> pd.Series:
    """The band (``"10-13"``, ``"25+"``) of each age; ``None`` when no band holds it."""
    ages = pd.Series(ages)
    out = pd.Series([None] * len(ages), index=ages.index, dtype=object)
    for band in bands:
        match = AGE_BAND.match(band)
        if not match:
            raise ConfigError(f"age band {band!r} is not like '10-13' or '25+'", key="age_bands")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else 200
        out[(ages >= low) & (ages <= high) & out.isna()] = band
    return out


def age_matched_population(population: pd.DataFrame, ages: pd.Series | np.ndarray) -> pd.DataFrame:
    """Reweight population counts by age band to the age mix of the scored people.

    Each band's counts are scaled by (share of scored people in the band) / (share of the
    population in the band), so the baseline compares like with like on age (direct
    standardisation); bands with no scored people drop out.  Returns the population's other
    columns with a float ``count``, keeping the matched bands' total.
    """
    for col in ("age_band", "count"):
        if col not in population.columns:
            raise ExtractError(NO_COLUMN.format(where="population", column=col, role="population table", hint="",
                                                available=", ".join(map(str, population.columns))),
                               file="population", column=col)
    bands = sorted(population["age_band"].astype(str).unique())
    scored = age_band(ages, bands).value_counts(normalize=True)
    pop_by_band = population.groupby(population["age_band"].astype(str))["count"].sum()
    matched = pop_by_band[pop_by_band.index.isin(scored.index)]
    if matched.sum() == 0:
        return population.drop(columns="age_band").iloc[0:0].assign(count=0.0)
    weight = (scored / (matched / matched.sum())).reindex(pop_by_band.index).fillna(0.0)
    out = population.assign(count=population["count"] * population["age_band"].astype(str).map(weight))
    others = [c for c in population.columns if c not in ("age_band", "count")]
    return out.groupby(others, as_index=False)["count"].sum()


def _split_baselines(baselines: Mapping[str, pd.Series | pd.DataFrame],
                     n: int) -> tuple[dict[str, np.ndarray], dict[str, pd.DataFrame]]:
    """The baselines that are subsets of the scored people (as masks) and those that are tables of counts."""
    masks: dict[str, np.ndarray] = {}
    tables: dict[str, pd.DataFrame] = {}
    for name, base in baselines.items():
        if name in ("scored", "cohort"):
            raise HkcError(f"baseline name {name!r} is reserved (everyone scored is always included); rename it")
        if isinstance(base, pd.DataFrame) and "count" in base.columns:
            tables[name] = base
        elif isinstance(base, pd.Series) and pd.api.types.is_bool_dtype(base.dtype):
            if len(base) != n:
                raise HkcError(f"baseline {name!r} has {len(base)} rows but groups has {n}; "
                               "pass one flag per scored person")
            masks[name] = base.to_numpy(dtype=bool)
        else:
            raise HkcError(BAD_BASELINE.format(name=name, kind=type(base).__name__))
    return masks, tables


def _join(labels: Sequence[np.ndarray]) -> np.ndarray:
    """Intersection labels ``a*b`` from each part's labels."""
    return functools.reduce(lambda x, y: x + "*" + y, labels)


@dataclass
class _Layout:
    """The baselines laid out for one bootstrap over cells of people alike.

    A cell is one distinct (attribute values, in the cohort, in each sample baseline); ``design``
    has one column per (attribute, cohort or sample baseline, group), so ``draws @ design`` gives
    every count at once.  Tables of counts are fixed: only the cohort side of their ratio varies.
    """

    attrs: list[tuple[str, tuple[str, ...]]]
    relabel: dict[str, Any] = field(default_factory=dict)  # pooled attribute -> Pooling.relabel
    group_names: dict[str, list[str]] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    fixed_counts: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    fixed_shares: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    unavailable: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    columns: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    design: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    weight: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def count_tables(self, row_labels: Mapping[str, np.ndarray], tables: Mapping[str, pd.DataFrame]) -> None:
        """Each attribute's group names (in the data or any table) and each table's counts and shares over them."""
        self.tables = dict(tables)
        for attr, parts in self.attrs:
            present = set(row_labels[attr])
            counted: dict[str, pd.Series] = {}
            for name, tab in tables.items():
                missing = [p for p in parts if p not in tab.columns]
                if missing:
                    self.unavailable[attr][name] = f"the {name} table has no column '{missing[0]}'"
                    continue
                key = _join([group_labels(tab[p]) for p in parts])
                if attr in self.relabel:
                    key = self.relabel[attr](key)
                counted[name] = pd.Series(tab["count"].to_numpy(dtype=float)).groupby(key).sum()
                present |= set(counted[name].index)
            self.group_names[attr] = sorted(present)
            for name, series in counted.items():
                vec = series.reindex(self.group_names[attr]).fillna(0.0).to_numpy()
                self.fixed_counts[(attr, name)] = vec
                self.fixed_shares[(attr, name)] = vec / vec.sum() if vec.sum() > 0 else np.full(len(vec), np.nan)

    def build_design(self, labels: Mapping[str, np.ndarray], row_labels: Mapping[str, np.ndarray],
                     cohort: np.ndarray, masks: Mapping[str, np.ndarray]) -> None:
        """The cells (one key per distinct attribute values, cohort and sample memberships) and the design."""
        parts_frame = pd.DataFrame(dict(labels) | {"_cohort": cohort}
                                   | {f"_m{i}": m for i, m in enumerate(masks.values())})
        key = parts_frame.groupby(list(parts_frame.columns), sort=True).ngroup().to_numpy()
        k = int(key.max()) + 1
        self.weight = np.bincount(key, minlength=k)
        first = np.empty(k, dtype=np.int64)
        first[key[::-1]] = np.arange(len(key) - 1, -1, -1)
        self.samples = {"scored": np.ones(k, bool)} | {name: m[first] for name, m in masks.items()}
        blocks: list[np.ndarray] = []
        width = 0
        for attr, _ in self.attrs:
            g = len(self.group_names[attr])
            index = np.searchsorted(self.group_names[attr], row_labels[attr][first])
            onehot = np.zeros((k, g))
            onehot[np.arange(k), index] = 1.0
            for name, member in {"cohort": cohort[first], **self.samples}.items():
                blocks.append(onehot * member[:, None])
                self.columns[(attr, name)] = (width, g)
                width += g
        self.design = np.hstack(blocks)

    def statistic(self, draws: np.ndarray) -> dict[str, np.ndarray]:
        """Cohort shares and, per baseline, cohort share / baseline share, for each batch of resampled cells."""
        sums = draws @ self.design
        out = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for attr, _ in self.attrs:
                at, g = self.columns[(attr, "cohort")]
                share = sums[:, at:at + g] / sums[:, at:at + g].sum(1, keepdims=True)
                out[f"{attr}|cohort"] = share
                for name in self.samples:
                    at, g = self.columns[(attr, name)]
                    base = sums[:, at:at + g] / sums[:, at:at + g].sum(1, keepdims=True)
                    out[f"{attr}|{name}"] = share / base
                for name in self.tables:
                    if (attr, name) in self.fixed_shares:
                        out[f"{attr}|{name}"] = share / self.fixed_shares[(attr, name)]
        return out


def _exact_ratio(lay: _Layout, name: str, x: int, cohort_n: int, count: float, total: float,
                 base_share: float, confidence: float) -> list[float] | None:
    """The exact interval of a ratio on small counts: Katz against a sample, Clopper–Pearson over a table's share."""
    if name in lay.samples:
        return ratio_interval(x, cohort_n, int(count), int(total), confidence)
    share_ci = rate_interval(x, cohort_n, confidence)
    return None if share_ci is None else [share_ci[0] / base_share, share_ci[1] / base_share]


def _baseline_entry(lay: _Layout, attr: str, gi: int, name: str, entry: Mapping[str, Any], *,
                    point: Mapping[str, np.ndarray], intervals: Mapping[str, np.ndarray],
                    point_counts: np.ndarray, cohort_n: int, spec: AuditSpec) -> dict[str, Any]:
    """One group against one baseline: its count and share there, the ratio with its interval, the flag."""
    count: float
    total: float = 0.0
    if name in lay.samples:
        at_b, _g = lay.columns[(attr, name)]
        count = int(point_counts[at_b + gi])
        total = float(point_counts[at_b:at_b + _g].sum())
        base_share = count / total if total > 0 else None
    else:
        count = float(lay.fixed_counts[(attr, name)][gi])
        base_share = finite_or_none(lay.fixed_shares[(attr, name)][gi])
    share = entry["cohort_share"]
    ratio = finite_or_none(point[f"{attr}|{name}"][0, gi]) if share is not None and base_share else None
    threshold = spec.disclosure.small_cell
    x = entry["cohort_count"]
    sample = name in lay.samples
    small_counts = min(x, cohort_n - x) < threshold or (sample and min(count, total - count) < threshold)
    too_few = cohort_n < threshold or (sample and total < threshold)
    if ratio is None:
        ci = None
    elif small_counts:
        ci = _exact_ratio(lay, name, x, cohort_n, count, total, base_share, spec.bootstrap.confidence)
    else:
        ci = interval_or_none(intervals[f"{attr}|{name}"][gi])
    meets = flag_raised(ratio, ci, spec)
    inside = ci is not None and spec.flags.ratio_low <= ci[0] and ci[1] <= spec.flags.ratio_high
    return {"count": count, "share": base_share, "ratio": ratio, "ratio_ci": ci,
            "flag": meets and not too_few, "indicative": meets and too_few,
            "unassessed": ratio is not None and not meets and (small_counts or too_few) and not inside,
            "exact": ratio is not None and small_counts,
            "undefined": None if ratio is not None or share is None else
            f"{entry['group']} is not in the {name} baseline"}


def _attribute_rows(lay: _Layout, attr: str, *, point: Mapping[str, np.ndarray],
                    intervals: Mapping[str, np.ndarray], point_counts: np.ndarray,
                    spec: AuditSpec) -> list[dict[str, Any]]:
    """One attribute's groups: cohort count and share with its interval, and each available baseline."""
    rows = []
    at, g = lay.columns[(attr, "cohort")]
    cohort_n = int(point_counts[at:at + g].sum())
    for gi, group in enumerate(lay.group_names[attr]):
        share = finite_or_none(point[f"{attr}|cohort"][0, gi])
        x = int(point_counts[at + gi])
        if share is None:
            share_ci = None
        elif min(x, cohort_n - x) < spec.disclosure.small_cell:
            share_ci = rate_interval(x, cohort_n, spec.bootstrap.confidence)
        else:
            share_ci = interval_or_none(intervals[f"{attr}|cohort"][gi])
        entry: dict[str, Any] = {"group": group, "cohort_count": x, "cohort_share": share,
                                 "cohort_share_ci": share_ci, "baselines": {}}
        for name in [*lay.samples, *lay.tables]:
            if name in lay.tables and (attr, name) not in lay.fixed_shares:
                continue
            entry["baselines"][name] = _baseline_entry(lay, attr, gi, name, entry, point=point, intervals=intervals,
                                                       point_counts=point_counts, cohort_n=cohort_n, spec=spec)
        rows.append(entry)
    return rows


def composition_baselines(cohort_mask, groups: pd.DataFrame, *, baselines: Mapping[str, pd.Series | pd.DataFrame],
                          spec: AuditSpec | None = None, intersections: Sequence[str] | None = None) -> dict:
    """Each group's share of the cohort against its share of several baselines, with intervals.

    Parameters
    ----------
    cohort_mask : boolean array or Series over the rows of ``groups``
        Who is in the cohort.
    groups : DataFrame
        One row per scored person; every column except ``person_id`` is an attribute.
    baselines : mapping
        Name → either a boolean Series over the same rows (a subset of the scored people, e.g.
        those convicted of a weapon offence in the window) or a DataFrame of counts (``count`` plus
        attribute columns, e.g. :func:`age_matched_population`).  "Everyone scored" is always added
        as ``scored``.  No baseline is privileged: each is reported.
    spec : AuditSpec, optional
        Bootstrap settings and the flag rule.
    intersections : sequence of ``a*b``, optional
        Defaults to the spec's intersections whose parts are all columns of ``groups``.

    Returns
    -------
    dict
        ``cohort_n``, ``scored_n``, ``baselines`` (name → label, kind, size) and ``attributes``
        (attribute → groups, each with ``cohort_count``, ``cohort_share`` and its interval, and per
        baseline ``count``, ``share``, ``ratio`` (cohort share / baseline share), ``ratio_ci``,
        ``flag``, ``indicative``, ``unassessed`` (small counts, and an interval too wide to tell) and
        ``exact`` (the interval is exact)), plus ``unavailable`` reasons; a pooled attribute also
        has ``pooled`` (the attribute, the pooled group and the groups in it).
    """
    spec = spec or AuditSpec()
    cohort = np.asarray(cohort_mask, dtype=bool)
    if len(cohort) != len(groups):
        raise HkcError(f"cohort_mask has {len(cohort)} rows but groups has {len(groups)}; pass one flag per person")
    columns = [c for c in groups.columns if c != "person_id"]
    if intersections is None:
        intersections = [i for i in spec.attributes.intersections if all(p in columns for p in i.split("*"))]
    labels = {c: group_labels(groups[c]) for c in columns}
    pools = poolings({c: pd.unique(labels[c]) for c in columns}, spec)
    attrs = ([(c, (c,)) for c in columns] + [(i, tuple(i.split("*"))) for i in intersections]
             + [(p.key, (p.attribute,)) for p in pools])
    masks, tables = _split_baselines(baselines, len(groups))
    row_labels = {a: _join([labels[p] for p in parts]) for a, parts in attrs}
    for p in pools:
        row_labels[p.key] = p.relabel(row_labels[p.key])
    lay = _Layout(attrs, relabel={p.key: p.relabel for p in pools})
    lay.count_tables(row_labels, tables)
    lay.build_design(labels, row_labels, cohort, masks)

    b = spec.bootstrap
    point = lay.statistic(lay.weight[None].astype(float))
    intervals = bootstrap_intervals(lay.weight, lay.statistic, resamples=b.resamples, seed=b.seed,
                                    confidence=b.confidence)
    point_counts = lay.weight.astype(float) @ lay.design
    result_attrs = {attr: {"groups": _attribute_rows(lay, attr, point=point, intervals=intervals,
                                                     point_counts=point_counts, spec=spec),
                           "unavailable": dict(lay.unavailable.get(attr, {}))} for attr, _ in attrs}
    for p in pools:
        result_attrs[p.key]["pooled"] = p.describe()
    return {
        "cohort_n": int(cohort.sum()),
        "scored_n": int(len(cohort)),
        "baselines": {name: {"label": BASELINE_LABELS.get(name, name),
                             "kind": "sample" if name in lay.samples else "counts",
                             "size": float(masks[name].sum()) if name in masks else
                             (float(len(cohort)) if name == "scored" else float(tables[name]["count"].sum()))}
                      for name in [*lay.samples, *tables]},
        "attributes": result_attrs,
        "thresholds": {"ratio_low": spec.flags.ratio_low, "ratio_high": spec.flags.ratio_high,
                       "confidence": b.confidence},
    }
