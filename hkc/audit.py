"""The fairness audit: who a list falls on, how sure we are, against which baseline, and why.

Every refresh runs it, and ``hkc audit --input FILE`` runs it on any scored file.  The pieces:

* :func:`load_audit_spec` reads ``audits/fairness.toml`` into an :class:`AuditSpec`;
* :func:`audit_selection` gives group metrics with fairlearn's ``MetricFrame`` per attribute and
  per intersection (``ethnicity*sex``, groups ``Black*M``), ratios and differences to a reference
  group, fairlearn's disparity measures, calibration by group, bootstrap intervals for every rate
  and ratio, small-cell and undefined-rate handling, and the flags;
* :func:`composition_baselines` compares the cohort's make-up with several baselines;
* :func:`driver_decomposition` says which indicators drive a gap in risk points;
* :func:`findings`, :func:`suppress_small_cells` and :func:`write_audit` (from
  :mod:`hkc.audit_report`) turn the result into sentences, a partner-safe copy and files.

A refresh assembles one result dictionary::

    result = audit_selection(scored, selected="in_cohort", by=["ethnicity", "sex"], score="risk_score",
                             spec=spec, selection_label="in the cohort")
    result["baselines"] = composition_baselines(scored["in_cohort"], scored[["ethnicity", "sex"]],
                                                baselines={"population": pop, "convicted": mask}, spec=spec)
    result["drivers"] = {"ethnicity": driver_decomposition(contributions, people, attribute="ethnicity",
                                                           reference="White", indicator_flags=flags)}
    write_audit(result, out / "audit", title="...")
    write_audit(suppress_small_cells(result, threshold=spec.disclosure.small_cell), out / "partner", title="...")

Why the metrics run on a frequency table: fairlearn's ``MetricFrame`` costs a Python step per row
and metric (about 3 s per metric per million rows), so it is given the table of distinct
(group, selected, outcome, score) rows with their counts as ``sample_weight``.  Rates and counts
are identical; the cost no longer grows with the number of rows.  The bootstrap draws that same
table: one multinomial draw of the counts is exactly one resample of the rows with replacement.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import itertools
import json
import re
import tomllib
import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import fairlearn
import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_negative_rate,
    false_positive_rate,
    mean_prediction,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from sklearn.metrics import precision_score

from hkc.audit_report import findings, suppress_small_cells, write_audit
from hkc.definitions import UNKNOWN_KEY, build_section, packaged_defaults
from hkc.errors import ConfigError, ExtractError, HkcError

__all__ = [
    "AuditSpec",
    "METRICS",
    "load_audit_spec",
    "audit_selection",
    "bootstrap_intervals",
    "composition_baselines",
    "age_band",
    "age_matched_population",
    "driver_decomposition",
    "findings",
    "suppress_small_cells",
    "write_audit",
    "run_file_audit",
    "audit_metrics",
]

METRICS = ("selection_rate", "mean_score", "base_rate", "true_positive_rate", "false_positive_rate",
           "false_negative_rate", "true_negative_rate", "precision")
OUTCOME_METRICS = METRICS[2:]
# The count each rate divides by, and why the rate is undefined when that count is zero.
DENOMINATORS = {
    "selection_rate": ("n", "the group is empty"),
    "mean_score": ("n", "the group is empty"),
    "base_rate": ("n", "the group is empty"),
    "true_positive_rate": ("positives", "no one in the group had the outcome"),
    "false_negative_rate": ("positives", "no one in the group had the outcome"),
    "false_positive_rate": ("negatives", "everyone in the group had the outcome"),
    "true_negative_rate": ("negatives", "everyone in the group had the outcome"),
    "precision": ("selected", "no one in the group was selected"),
}
# The counts each rate rests on (numerator, denominator, complement): a rate is "small" when any is
# under the small-cell threshold.  A small rate can still be shown to the auditor with its
# interval, but it never raises a flag (its percentile interval is unreliable, e.g. 0/2 gives
# [0, 0]); it is listed as `indicative` instead.
RATE_COUNTS = {
    "selection_rate": ("n", "selected", "not_selected"),
    "mean_score": ("n",),
    "base_rate": ("n", "positives", "negatives"),
    "true_positive_rate": ("positives", "true_positives", "false_negatives"),
    "false_negative_rate": ("positives", "true_positives", "false_negatives"),
    "false_positive_rate": ("negatives", "false_positives", "true_negatives"),
    "true_negative_rate": ("negatives", "false_positives", "true_negatives"),
    "precision": ("selected", "true_positives", "false_positives"),
}
MISSING_GROUP = "(missing)"
QUANTILES = {"p10": 0.1, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9}

# Message templates (tests import and compare them)
NO_COLUMN = "{where}: no column '{column}' (the {role}){hint}; available columns: {available}"
NOT_NUMERIC = "{where}, {row}, column '{column}': {value!r} is not a number; the {role} must be numeric"
NOT_BINARY = "{where}, {row}, column '{column}': {value!r} is not 0 or 1; the {role} must be 0/1 or true/false"
EMPTY_VALUE = "{where}, {row}, column '{column}' is empty; the {role} must be filled in every row (fill or drop those rows)"
UNKNOWN_REFERENCE = ("reference group {group!r} for '{attribute}' is not in the data; groups present: {groups}"
                     "{fix}")
NO_ROWS = "{where}: no rows to audit"
UNSUPPORTED_INPUT = "{path}: unsupported file type '{ext}'; use {expected}"
SELECTION_CHOICE = "give either a threshold (selected means score >= threshold) or a selected column, not {what}"
BAD_BASELINE = ("baseline {name!r}: expected a boolean Series over the scored people (a subset) or a DataFrame of "
                "counts with a 'count' column and group columns, got {kind}")
UNFLAGGED_INDICATOR = ("indicator_flags has no row for indicator {indicator!r}; add it with its intelligence and "
                       "proactive flags (indicators present: {present})")


DEFAULT_LABELS = {  # as in the shipped audits/fairness.toml
    "ethnicity": {"Asian": "Asian people", "Black": "Black people", "Mixed": "people of mixed ethnicity",
                  "White": "White people", "Other": "people of another ethnicity",
                  "Not stated": "people whose ethnicity is not stated"},
    "sex": {"F": "females", "M": "males", "X": "people recorded as sex X", "U": "people whose sex is unknown"},
}


def _doc(text: str, **rules: Any) -> dict[str, Any]:
    return {"doc": text, **rules}


# --------------------------------------------------------------------------------------------
# The audit specification (audits/fairness.toml)


@dataclass(frozen=True)
class AttributeSettings:
    columns: tuple[str, ...] = field(
        default=("ethnicity", "sex"), metadata=_doc("sensitive attributes audited one at a time"))
    intersections: tuple[str, ...] = field(
        default=("ethnicity*sex",),
        metadata=_doc("attributes audited together, written `a*b`; every part must be in `columns`"))
    age_bands: tuple[str, ...] = field(
        default=(), metadata=_doc("optional age bands such as `10-13` or `25+`, audited as `age_band`; empty = off"))


@dataclass(frozen=True)
class BootstrapSettings:
    resamples: int = field(default=1000, metadata=_doc("bootstrap resamples per interval", min=10, max=100_000))
    seed: int = field(default=20261101, metadata=_doc("random seed: the same seed gives the same intervals", min=0))
    confidence: float = field(default=0.95, metadata=_doc("confidence level of the percentile intervals",
                                                           min=0.5, max=0.999))
    score_bins: int = field(
        default=100,
        metadata=_doc("continuous scores are grouped into this many quantile bins for the mean-score "
                      "interval only; counts, rates and point estimates stay exact", min=2, max=1000))


@dataclass(frozen=True)
class DisclosureSettings:
    small_cell: int = field(
        default=10,
        metadata=_doc("counts under this are shown as `<N` in partner copies and their rates withheld; "
                      "groups with such a count are flagged `small`", min=1))


@dataclass(frozen=True)
class FlagSettings:
    ratio_low: float = field(default=0.8, metadata=_doc("flag a ratio to the reference below this", min=0, max=1))
    ratio_high: float = field(default=1.25, metadata=_doc("flag a ratio to the reference above this", min=1))
    require_interval: bool = field(
        default=True, metadata=_doc("flag only when the ratio's interval also excludes 1"))
    metrics: tuple[str, ...] = field(
        default=("selection_rate", "false_positive_rate", "false_negative_rate"),
        metadata=_doc("metrics whose ratios can raise a flag (any of METRICS)"))


@dataclass(frozen=True)
class CalibrationSettings:
    bands: int = field(
        default=10,
        metadata=_doc("a score with at most this many distinct values uses each value as a band; "
                      "otherwise this many quantile bands", min=2, max=100))


@dataclass(frozen=True)
class AuditSpec:
    """The audit specification (``audits/fairness.toml``); ``AuditSpec()`` gives the defaults."""

    attributes: AttributeSettings = field(default_factory=AttributeSettings,
                                          metadata=_doc("which attributes are audited"))
    reference: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({"ethnicity": "White", "sex": "M"}),
        metadata=_doc("reference group per attribute; missing: the largest group (intersections: "
                      "the parts' references combined)"))
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings, metadata=_doc("intervals"))
    disclosure: DisclosureSettings = field(default_factory=DisclosureSettings,
                                           metadata=_doc("small-cell suppression"))
    flags: FlagSettings = field(default_factory=FlagSettings, metadata=_doc("when a disparity is flagged"))
    calibration: CalibrationSettings = field(default_factory=CalibrationSettings,
                                             metadata=_doc("calibration by group"))
    labels: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({k: MappingProxyType(v) for k, v in DEFAULT_LABELS.items()}),
        metadata=_doc("noun phrases naming groups in the findings, per attribute"))
    path: Path | None = field(default=None, compare=False, metadata=_doc("file loaded (not a key)"))
    sha256: str = field(default="", compare=False, metadata=_doc("hash of the file (not a key)"))

    def digest(self) -> str:
        """SHA-256 of the file loaded, or of the settings when built in code."""
        if self.sha256:
            return self.sha256
        plain = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                 if f.name not in ("path", "sha256")}
        return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value


_SECTIONS = {"attributes": AttributeSettings, "bootstrap": BootstrapSettings, "disclosure": DisclosureSettings,
             "flags": FlagSettings, "calibration": CalibrationSettings}
_AGE_BAND = re.compile(r"^(\d{1,3})(?:-(\d{1,3})|\+)$")


def _unknown(key: str, valid: Sequence[str], file: Path, section: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(sorted(valid))}"
    return ConfigError(UNKNOWN_KEY.format(key=key, file=file, section=section, hint=hint), file=str(file), key=key)


def load_audit_spec(path: Path | str | None = None) -> AuditSpec:
    """Load an audit specification, rejecting unknown keys and bad values.

    ``path`` defaults to the ``audits/fairness.toml`` shipped with hkc.
    """
    path = Path(path) if path is not None else packaged_defaults() / "audits" / "fairness.toml"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; run `hkc init DIR` to create editable definitions",
                          file=str(path)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the line it names", file=str(path)) from None
    valid = [*_SECTIONS, "reference", "labels"]
    built: dict[str, Any] = {}
    for name, table in data.items():
        if name not in valid:
            raise _unknown(name, valid, path, "top level")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{name}] must be a table", file=str(path), key=name)
        if name in _SECTIONS:
            built[name] = build_section(_SECTIONS[name], table, path, name)
    attrs = built.get("attributes", AttributeSettings())
    for inter in attrs.intersections:
        parts = inter.split("*")
        bad = [p for p in parts if p not in attrs.columns]
        if len(parts) < 2 or bad:
            raise ConfigError(f"{path} [attributes] intersections: {inter!r} must join listed columns with '*' "
                              f"(e.g. 'ethnicity*sex'); columns: {', '.join(attrs.columns)}",
                              file=str(path), key="intersections")
    for band in attrs.age_bands:
        if not _AGE_BAND.match(band):
            raise ConfigError(f"{path} [attributes] age_bands: {band!r} is not an age band like '10-13' or '25+'",
                              file=str(path), key="age_bands")
    flags = built.get("flags", FlagSettings())
    for metric in flags.metrics:
        if metric not in METRICS:
            raise ConfigError(f"{path} [flags] metrics: unknown metric {metric!r}; valid: {', '.join(METRICS)}",
                              file=str(path), key="metrics")
    keys = [*attrs.columns, *attrs.intersections] + (["age_band"] if attrs.age_bands else [])
    reference = data.get("reference", {k: v for k, v in AuditSpec().reference.items() if k in keys})
    for key, value in reference.items():
        if key not in keys:
            raise _unknown(key, keys, path, "reference")
        if not isinstance(value, str):
            raise ConfigError(f"{path} [reference] {key} = {value!r}: must be a group name in quotes",
                              file=str(path), key=key)
    labels: dict[str, Mapping[str, str]] = {}
    for key, table in data.get("labels", {k: v for k, v in DEFAULT_LABELS.items() if k in keys}).items():
        if key not in keys:
            raise _unknown(key, keys, path, "labels")
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise ConfigError(f"{path} [labels.{key}] must map group names to phrases in quotes",
                              file=str(path), key=key)
        labels[key] = MappingProxyType(dict(table))
    return AuditSpec(**built, reference=MappingProxyType(dict(reference)), labels=MappingProxyType(labels),
                     path=path, sha256=hashlib.sha256(raw).hexdigest())


# --------------------------------------------------------------------------------------------
# Bootstrap


def bootstrap_intervals(counts: np.ndarray, statistic: Callable[[np.ndarray], Mapping[str, np.ndarray]], *,
                        resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
                        max_cells: int = 4_000_000) -> dict[str, np.ndarray]:
    """Percentile bootstrap intervals from a table of counts, vectorised over resamples.

    Resampling ``n`` rows with replacement from rows that fall into cells with ``counts`` is the
    same as one multinomial draw of ``n`` over the cells with probabilities ``counts / n``; so a
    million rows compressed to a few thousand distinct cells cost a few thousand numbers per
    resample, drawn in chunks of resamples.

    Parameters
    ----------
    counts : array of shape (K,)
        Rows per cell (e.g. per distinct group × selected × outcome).
    statistic : callable
        Maps an (r, K) array of resampled counts to ``{name: array of shape (r, ...)}``;
        ``statistic(counts[None])`` gives the point estimates.  Non-finite values (an empty
        denominator in a resample) are ignored.
    resamples, seed, confidence
        Number of resamples, random seed, and interval level.
    max_cells
        Memory bound: resamples are drawn in chunks of at most ``max_cells / K``.

    Returns
    -------
    dict
        ``{name: array of shape (..., 2)}`` holding [low, high]; NaN where no resample was defined.

    Examples
    --------
    >>> ci = bootstrap_intervals(np.array([30, 70]), lambda c: {"share": c[:, 0] / c.sum(1)}, seed=1)
    >>> bool(ci["share"][0] < 0.3 < ci["share"][1])
    True
    """
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        raise ValueError("bootstrap_intervals needs at least one row")
    pvals = counts / total
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, max_cells // max(1, len(counts))))
    parts: dict[str, list[np.ndarray]] = defaultdict(list)
    for start in range(0, resamples, chunk):
        draws = rng.multinomial(total, pvals, size=min(chunk, resamples - start)).astype(np.float64)
        for name, value in statistic(draws).items():
            parts[name].append(np.asarray(value, dtype=np.float64))
    alpha = (1.0 - confidence) / 2.0
    out = {}
    for name, chunks in parts.items():
        values = np.concatenate(chunks)
        values[~np.isfinite(values)] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: no defined resample
            low, high = np.nanquantile(values, [alpha, 1.0 - alpha], axis=0)
        out[name] = np.stack([low, high], axis=-1)
    return out


# --------------------------------------------------------------------------------------------
# Helpers: values, groups, checks


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _interval(pair: np.ndarray | None) -> list[float] | None:
    if pair is None or not np.all(np.isfinite(pair)):
        return None
    return [float(pair[0]), float(pair[1])]


def _group_labels(series: pd.Series) -> np.ndarray:
    """Group names as strings; a missing value is its own group, never dropped."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    names = np.array([str(u) for u in uniques] + [MISSING_GROUP], dtype=object)
    return names[codes]  # code -1 (missing) picks the last name


def _shown(value: Any) -> Any:
    """A value as the user wrote it (numpy scalars as plain Python) for messages."""
    return value.item() if hasattr(value, "item") else value


def _row_name(position: int, row_of: Callable[[int], str] | None, index: pd.Index) -> str:
    return row_of(position) if row_of is not None else f"row {index[position]!r}"


def _require(frame: pd.DataFrame, column: str, role: str, where: str) -> None:
    if column not in frame.columns:
        names = [str(c) for c in frame.columns]
        close = difflib.get_close_matches(str(column), names, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ExtractError(NO_COLUMN.format(where=where, column=column, role=role, hint=hint,
                                            available=", ".join(names)), file=where, column=str(column))


def _numeric(frame: pd.DataFrame, column: str, role: str, where: str, row_of=None) -> np.ndarray:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        row = _row_name(pos, row_of, frame.index)
        if pd.isna(raw.iloc[pos]) or str(raw.iloc[pos]).strip() == "":
            raise ExtractError(EMPTY_VALUE.format(where=where, row=row, column=column, role=role),
                               file=where, column=column)
        raise ExtractError(NOT_NUMERIC.format(where=where, row=row, column=column, value=_shown(raw.iloc[pos]), role=role),
                           file=where, column=column)
    return values.to_numpy(dtype=np.float64)


def _binary(frame: pd.DataFrame, column: str, role: str, where: str, row_of=None) -> np.ndarray:
    raw = frame[column]
    if pd.api.types.is_bool_dtype(raw.dtype) and not raw.isna().any():
        return raw.to_numpy(dtype=np.int8)
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
        ok = (values == 0) | (values == 1)
        if ok.all():
            return values.astype(np.int8)
    # True == 1 and 1.0 == 1 as dictionary keys, so numbers and bools share the first two entries
    lowered = raw.map(lambda v: v.strip().lower() if isinstance(v, str) else v)
    mapped = lowered.map({1: 1, 0: 0, "1": 1, "0": 0, "true": 1, "false": 0})
    bad = mapped.isna().to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        row = _row_name(pos, row_of, frame.index)
        if pd.isna(raw.iloc[pos]):
            raise ExtractError(EMPTY_VALUE.format(where=where, row=row, column=column, role=role),
                               file=where, column=column)
        raise ExtractError(NOT_BINARY.format(where=where, row=row, column=column, value=_shown(raw.iloc[pos]), role=role),
                           file=where, column=column)
    return mapped.to_numpy(dtype=np.int8)


def _bins(score: np.ndarray, bins: int) -> tuple[np.ndarray, list[str]]:
    """Band codes and labels: each distinct value when few, else quantile bands."""
    distinct = np.unique(score)
    if len(distinct) <= bins:
        labels = [f"{v:g}" for v in distinct]
        return np.searchsorted(distinct, score).astype(np.int64), labels
    edges = np.unique(np.quantile(score, np.linspace(0, 1, bins + 1)))
    codes = np.clip(np.searchsorted(edges[1:-1], score, side="right"), 0, len(edges) - 2)
    labels = [f"{lo:.3g}–{hi:.3g}" for lo, hi in itertools.pairwise(edges)]
    return codes.astype(np.int64), labels


def _attribute_keys(by: Sequence[str], spec: AuditSpec, intersections: bool) -> list[tuple[str, tuple[str, ...]]]:
    keys = [(col, (col,)) for col in by]
    if intersections:
        wanted = [tuple(i.split("*")) for i in spec.attributes.intersections if all(p in by for p in i.split("*"))]
        if not wanted and len(by) >= 2:
            wanted = list(itertools.combinations(by, 2))
        keys += [("*".join(parts), parts) for parts in wanted]
    return keys


def _label(spec: AuditSpec, attr: str, group: str) -> str:
    table = spec.labels.get(attr, {})
    if group in table:
        return table[group]
    if "*" in attr:
        parts, values = attr.split("*"), group.split("*")
        if len(parts) == len(values):
            return _label(spec, parts[0], values[0]) + " (" + ", ".join(
                f"{p} {v}" for p, v in zip(parts[1:], values[1:], strict=True)) + ")"
    return f"{group} people"


def _resolve_reference(attr: str, parts: tuple[str, ...], groups: list[str], sizes: np.ndarray,
                       reference: Mapping[str, str], spec: AuditSpec, resolved: Mapping[str, str]) -> tuple[str, str]:
    """The reference group and where it came from.

    A reference passed by the caller must exist.  One from the spec that the data does not hold
    (e.g. the spec's ``sex = "M"`` on a file coded ``Male``) falls back to the largest group, and
    the source says so; findings repeat it.
    """
    largest = groups[int(np.argmax(sizes))]
    if attr in reference:
        group = str(reference[attr])
        if group not in groups:
            raise HkcError(UNKNOWN_REFERENCE.format(group=group, attribute=attr, groups=", ".join(groups),
                                                    fix="; pass a reference that is present"))
        return group, "argument"
    if attr in spec.reference:
        group = str(spec.reference[attr])
        if group in groups:
            return group, "spec"
        return largest, f"largest group (the spec's reference {group!r} is not in the data)"
    if len(parts) > 1 and all(p in resolved for p in parts):
        combined = "*".join(resolved[p] for p in parts)
        if combined in groups:
            return combined, "parts"
    return largest, "largest group"


# --------------------------------------------------------------------------------------------
# Group metrics


@dataclass
class _Table:
    """The frequency table of distinct (groups, selected, outcome, score bin) rows."""

    weight: np.ndarray            # (K,) rows per key
    selected: np.ndarray          # (K,)
    outcome: np.ndarray           # (K,) zeros when there is no outcome
    score: np.ndarray | None      # (K,) mean score of the rows in the key
    row_key: np.ndarray           # (n,) key of each row
    index: dict[str, np.ndarray]  # attribute -> group index per key
    groups: dict[str, list[str]]  # attribute -> group names (sorted)
    score_bins: int | None        # bins used (None: exact values)


def _frequency_table(frame: pd.DataFrame, attrs: list[tuple[str, tuple[str, ...]]], by: Sequence[str],
                     sel: np.ndarray, out: np.ndarray, score: np.ndarray | None, score_bins: int) -> _Table:
    columns = {}
    uniques = {}
    for i, col in enumerate(by):
        code, values = pd.factorize(_group_labels(frame[col]), sort=True)
        columns[f"c{i}"] = code
        uniques[col] = np.asarray(values, dtype=object)
    columns["sel"], columns["out"] = sel, out
    used_bins = None
    if score is not None:
        columns["bin"], labels = _bins(score, score_bins)
        used_bins = None if len(labels) == len(np.unique(score)) else len(labels)
    parts = pd.DataFrame(columns)
    row_key = parts.groupby(list(parts.columns), sort=True).ngroup().to_numpy()
    k = int(row_key.max()) + 1
    first = np.empty(k, dtype=np.int64)
    first[row_key[::-1]] = np.arange(len(row_key) - 1, -1, -1)
    weight = np.bincount(row_key, minlength=k)
    index, groups = {}, {}
    for attr, cols in attrs:
        label = None
        for col in cols:
            values = uniques[col][columns[f"c{list(by).index(col)}"][first]]
            label = values if label is None else label + "*" + values
        code, names = pd.factorize(label, sort=True)
        index[attr], groups[attr] = code, [str(v) for v in names]
    mean_score = None
    if score is not None:
        mean_score = np.bincount(row_key, weights=score, minlength=k) / weight
    return _Table(weight=weight, selected=sel[first].astype(np.int64), outcome=out[first].astype(np.int64),
                  score=mean_score, row_key=row_key, index=index, groups=groups, score_bins=used_bins)


def _weighted_count(y_true, y_pred, sample_weight):
    return float(np.sum(sample_weight))


def _base_rate(y_true, y_pred, sample_weight):
    return float(np.average(y_true, weights=sample_weight))


def _metric_frames(table: _Table, attr: str, has_outcome: bool) -> tuple[pd.DataFrame, pd.Series]:
    """fairlearn MetricFrame per group and overall (undefined rates still read 0.0 here)."""
    metrics: dict[str, Callable] = {"n": _weighted_count, "selection_rate": selection_rate}
    if has_outcome:
        metrics |= {"base_rate": _base_rate, "true_positive_rate": true_positive_rate,
                    "false_positive_rate": false_positive_rate, "false_negative_rate": false_negative_rate,
                    "true_negative_rate": true_negative_rate,
                    "precision": functools.partial(precision_score, zero_division=0.0)}
    sf = pd.Series(np.asarray(table.groups[attr], dtype=object)[table.index[attr]], name=attr)
    weights = {name: {"sample_weight": table.weight} for name in metrics}
    frame = MetricFrame(metrics=metrics, y_true=table.outcome, y_pred=table.selected, sensitive_features=sf,
                        sample_params=weights)
    by_group, overall = frame.by_group.copy(), frame.overall.copy()
    if table.score is not None:
        scores = MetricFrame(metrics={"mean_score": mean_prediction}, y_true=table.score, y_pred=table.score,
                             sensitive_features=sf, sample_params={"mean_score": {"sample_weight": table.weight}})
        by_group["mean_score"] = scores.by_group["mean_score"]
        overall["mean_score"] = scores.overall["mean_score"]
    by_group.index = by_group.index.astype(str)
    return by_group, overall


def _rates(cells: np.ndarray, score_sum: np.ndarray | None, has_outcome: bool) -> dict[str, np.ndarray]:
    """Rates from confusion cells (..., 4) ordered TN, FN, FP, TP; 0/0 gives NaN (undefined)."""
    tn, fn, fp, tp = (cells[..., i] for i in range(4))
    n = cells.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {"selection_rate": (fp + tp) / n}
        if score_sum is not None:
            out["mean_score"] = score_sum / n
        if has_outcome:
            out |= {"base_rate": (fn + tp) / n, "true_positive_rate": tp / (tp + fn),
                    "false_positive_rate": fp / (fp + tn), "false_negative_rate": fn / (tp + fn),
                    "true_negative_rate": tn / (fp + tn), "precision": tp / (tp + fp)}
    return out


def _design(table: _Table, attrs: list[str]) -> tuple[np.ndarray, dict[str, tuple[int, int, int]]]:
    """Matrix mapping key counts to (group, cell) counts and score sums for every attribute."""
    k = len(table.weight)
    layout, width = {}, 0
    for attr in attrs:
        g = len(table.groups[attr])
        layout[attr] = (width, width + 4 * g, g)
        width += 5 * g
    design = np.zeros((k, width))
    rows = np.arange(k)
    cell = 2 * table.selected + table.outcome
    for attr in attrs:
        cells_at, score_at, _ = layout[attr]
        design[rows, cells_at + 4 * table.index[attr] + cell] = 1.0
        if table.score is not None:
            design[rows, score_at + table.index[attr]] = table.score
    return design, layout


def _statistic(table: _Table, attrs: list[str], refs: Mapping[str, int], has_outcome: bool):
    design, layout = _design(table, attrs)
    has_score = table.score is not None

    def statistic(draws: np.ndarray) -> dict[str, np.ndarray]:
        sums = draws @ design
        out = {}
        for attr in attrs:
            cells_at, score_at, g = layout[attr]
            cells = sums[:, cells_at:cells_at + 4 * g].reshape(-1, g, 4)
            score_sum = sums[:, score_at:score_at + g] if has_score else None
            if attr == attrs[0]:
                for name, value in _rates(cells.sum(1), None if score_sum is None else score_sum.sum(1),
                                          has_outcome).items():
                    out[f"|{name}"] = value
            ref = refs[attr]
            for name, value in _rates(cells, score_sum, has_outcome).items():
                out[f"{attr}|{name}"] = value
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[f"{attr}|{name}|ratio"] = value / value[:, [ref]]
                out[f"{attr}|{name}|difference"] = value - value[:, [ref]]
        return out

    return statistic


def _cells(table: _Table, attr: str) -> np.ndarray:
    g = len(table.groups[attr])
    flat = np.bincount(4 * table.index[attr] + 2 * table.selected + table.outcome, weights=table.weight,
                       minlength=4 * g)
    return flat.reshape(g, 4).astype(np.int64)


def _counts(cells: np.ndarray, has_outcome: bool) -> dict[str, int]:
    tn, fn, fp, tp = (int(x) for x in cells)
    out = {"n": tn + fn + fp + tp, "selected": fp + tp}
    if has_outcome:
        out |= {"positives": fn + tp, "negatives": tn + fp, "true_positives": tp, "false_positives": fp,
                "false_negatives": fn, "true_negatives": tn}
    return out


def _compare(values: Mapping[str, float | None], ref_values: Mapping[str, float | None], metrics: Sequence[str],
             intervals: Mapping[str, np.ndarray], attr: str) -> dict[str, Any]:
    """Ratios and differences of one group's rates to the reference group's, with intervals.

    An undefined rate on either side, or a reference rate of 0, gives no ratio; the reason is
    returned under ``_reasons`` for the ``undefined`` list.
    """
    out: dict[str, Any] = {"ratio": {}, "ratio_ci": {}, "difference": {}, "difference_ci": {}, "_reasons": {}}
    for m in metrics:
        value, ref = values[m], ref_values[m]
        ratio = difference = None
        if value is not None and ref is None:
            out["_reasons"][m] = f"the reference group's {m.replace('_', ' ')} is undefined"
        elif value is not None:
            difference = value - ref
            ratio = value / ref if ref != 0 else None
            if ref == 0:
                out["_reasons"][m] = "the reference group's rate is 0"
        out["ratio"][m], out["difference"][m] = ratio, difference
        out["ratio_ci"][m] = _interval(intervals[f"{attr}|{m}|ratio"]) if ratio is not None else None
        out["difference_ci"][m] = _interval(intervals[f"{attr}|{m}|difference"]) if difference is not None else None
    return out


def _small_metrics(counts: Mapping[str, int], metrics: Sequence[str], threshold: int) -> list[str]:
    sizes = dict(counts) | {"not_selected": counts["n"] - counts["selected"]}
    return [m for m in metrics if any(sizes.get(k, threshold) < threshold for k in RATE_COUNTS[m])]


def _disparities(table: _Table, attr: str, include: list[str], has_outcome: bool) -> dict[str, Any]:
    """fairlearn's disparity measures over the groups in ``include`` (weighted frequency table)."""
    names = np.asarray(table.groups[attr], dtype=object)
    keep = np.isin(names[table.index[attr]], include)
    out: dict[str, Any] = {"groups": list(include)}
    measures = {"demographic_parity_difference": demographic_parity_difference,
                "demographic_parity_ratio": demographic_parity_ratio}
    if has_outcome:
        measures |= {"equalized_odds_difference": equalized_odds_difference,
                     "equalized_odds_ratio": equalized_odds_ratio,
                     "equal_opportunity_difference": equal_opportunity_difference,
                     "equal_opportunity_ratio": equal_opportunity_ratio}
    for name, fn in measures.items():
        if len(include) < 2:
            out[name] = None
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = fn(table.outcome[keep], table.selected[keep], sensitive_features=names[table.index[attr]][keep],
                       sample_weight=table.weight[keep])
        out[name] = _num(value)
    return out


def _flagged(ratio: float | None, ci: list[float] | None, spec: AuditSpec) -> bool:
    f = spec.flags
    if ratio is None or not (ratio < f.ratio_low or ratio > f.ratio_high):
        return False
    if not f.require_interval:
        return True
    return ci is not None and (ci[0] > 1.0 or ci[1] < 1.0)


def _score_summary(score: np.ndarray, codes: np.ndarray, g: int) -> list[dict[str, float]]:
    frame = pd.DataFrame({"g": codes, "s": score})
    grouped = frame.groupby("g")["s"]
    q = grouped.quantile(list(QUANTILES.values())).unstack()
    low, high = grouped.min(), grouped.max()
    out = []
    for i in range(g):
        if i not in q.index:
            out.append({})
            continue
        row = {"min": float(low[i])} | {k: float(q.loc[i, v]) for k, v in QUANTILES.items()}
        out.append(row | {"max": float(high[i])})
    return out


def _calibration(score: np.ndarray, outcome: np.ndarray, codes: np.ndarray, names: list[str],
                 bands: int) -> list[dict[str, Any]]:
    band, labels = _bins(score, bands)
    frame = pd.DataFrame({"g": codes, "b": band, "y": outcome, "s": score})
    table = frame.groupby(["g", "b"]).agg(n=("y", "size"), observed=("y", "mean"), mean_score=("s", "mean"))
    return [{"group": names[g], "band": labels[b], "band_index": int(b), "n": int(row.n),
             "observed_rate": float(row.observed), "mean_score": float(row.mean_score)}
            for (g, b), row in table.iterrows()]


def audit_selection(frame: pd.DataFrame, *, selected: str, by: Sequence[str], score: str | None = None,
                    outcome: str | None = None, spec: AuditSpec, reference: Mapping[str, str] | None = None,
                    intersections: bool = True, selection_label: str = "selected",
                    population_label: str = "the scored population", where: str = "input",
                    row_of: Callable[[int], str] | None = None) -> dict:
    """Audit who is selected, by group, with intervals: the ``audit.json`` dictionary.

    Parameters
    ----------
    frame : DataFrame
        One row per scored person (or case).
    selected : str
        0/1 or boolean column: in the cohort / rated high.
    by : sequence of str
        Sensitive attribute columns, each audited on its own; with ``intersections`` also together
        (the spec's intersections among ``by``, else every pair), keyed ``a*b`` with groups ``v1*v2``.
    score, outcome : str, optional
        Numeric score (mean score, score distribution, calibration) and 0/1 outcome (error rates).
    spec : AuditSpec
        Reference groups, bootstrap settings, small-cell threshold and flag rule.
    reference : mapping, optional
        Reference group per attribute, overriding the spec.
    selection_label, population_label : str
        Words for the findings: "to be {selection_label}", "in {population_label}".
    where, row_of
        How error messages name the input and a row position (``run_file_audit`` passes the file).

    Returns
    -------
    dict
        ``n``, ``selection``, ``overall``, ``attributes`` (per attribute: ``reference``,
        ``groups`` with counts, rates, ``ci``, ratios/differences to the reference with intervals,
        ``undefined``, ``small``, ``flags``; ``disparities`` from fairlearn; ``calibration``),
        top-level ``flags`` and ``undefined`` lists, ``labels`` and ``provenance``.
    """
    by = list(by)
    if not by:
        raise HkcError(f"{where}: give at least one attribute to audit by (--by COLUMN)")
    for col in by:
        _require(frame, col, "--by column", where)
    _require(frame, selected, "selected column", where)
    if score is not None:
        _require(frame, score, "score column", where)
    if outcome is not None:
        _require(frame, outcome, "outcome column", where)
    if len(frame) == 0:
        raise HkcError(NO_ROWS.format(where=where))
    sel = _binary(frame, selected, "selected column", where, row_of)
    has_outcome = outcome is not None
    out = _binary(frame, outcome, "outcome column", where, row_of) if has_outcome else np.zeros(len(frame), np.int8)
    scores = _numeric(frame, score, "score column", where, row_of) if score is not None else None
    reference = dict(reference or {})
    b = spec.bootstrap
    threshold = spec.disclosure.small_cell

    attrs = _attribute_keys(by, spec, intersections)
    table = _frequency_table(frame, attrs, by, sel, out, scores, b.score_bins)
    names = [a for a, _ in attrs]
    cells = {a: _cells(table, a) for a in names}
    refs: dict[str, str] = {}
    sources: dict[str, str] = {}
    for attr, parts in attrs:
        refs[attr], sources[attr] = _resolve_reference(attr, parts, table.groups[attr], cells[attr].sum(1),
                                                       reference, spec, refs)
    ref_index = {a: table.groups[a].index(refs[a]) for a in names}
    intervals = bootstrap_intervals(table.weight, _statistic(table, names, ref_index, has_outcome),
                                    resamples=b.resamples, seed=b.seed, confidence=b.confidence)
    metrics = [m for m in METRICS if (m != "mean_score" or scores is not None)
               and (m not in OUTCOME_METRICS or has_outcome)]

    result_attrs: dict[str, Any] = {}
    all_flags: list[dict] = []
    all_undefined: list[dict] = []
    labels: dict[str, dict[str, str]] = {}
    for attr in names:
        by_group, _ = _metric_frames(table, attr, has_outcome)
        groups_out = []
        ref_name = refs[attr]
        point: dict[str, dict[str, float | None]] = {}
        for gi, group in enumerate(table.groups[attr]):
            counts = _counts(cells[attr][gi], has_outcome)
            if int(round(by_group.loc[group, "n"])) != counts["n"]:  # the two ways of counting must agree
                raise AssertionError(f"MetricFrame count differs from the frequency table for {attr}={group}")
            values = {}
            for m in metrics:
                denominator = DENOMINATORS[m][0]
                values[m] = None if counts[denominator] == 0 else _num(by_group.loc[group, m])
            point[group] = values
        ref_values = point[ref_name]
        quantiles = _score_summary(scores, table.index[attr][table.row_key], len(table.groups[attr])) \
            if scores is not None else None
        labels[attr] = {g: _label(spec, attr, g) for g in table.groups[attr]}
        for gi, group in enumerate(table.groups[attr]):
            counts = _counts(cells[attr][gi], has_outcome)
            values = point[group]
            small_counts = [k for k, v in counts.items() if v < threshold]
            small_metrics = _small_metrics(counts, metrics, threshold)
            ref_small = _small_metrics(_counts(cells[attr][ref_index[attr]], has_outcome), metrics, threshold)
            undefined = [m for m in metrics if values[m] is None]
            entry: dict[str, Any] = {"group": group, **counts}
            entry |= {m: values.get(m) for m in METRICS}
            entry |= {"reference": group == ref_name, "small": bool(small_counts), "small_counts": small_counts,
                      "small_metrics": small_metrics, "undefined": undefined,
                      "ci": {m: (_interval(intervals[f"{attr}|{m}"][gi]) if values[m] is not None else None)
                             for m in metrics},
                      "ratio": {}, "ratio_ci": {}, "difference": {}, "difference_ci": {}, "flags": [],
                      "indicative": []}
            for m in undefined:
                all_undefined.append({"attribute": attr, "group": group, "metric": m, "kind": "rate",
                                      "reason": DENOMINATORS[m][1]})
            if group != ref_name:
                entry |= _compare(values, ref_values, metrics, {k: v[gi] for k, v in intervals.items()
                                                               if k.startswith(f"{attr}|")}, attr)
                for m, reason in entry.pop("_reasons").items():
                    all_undefined.append({"attribute": attr, "group": group, "metric": m, "kind": "ratio",
                                          "reason": reason})
                for m in spec.flags.metrics:
                    if m not in entry["ratio"] or not _flagged(entry["ratio"][m], entry["ratio_ci"][m], spec):
                        continue
                    if m in small_metrics or m in ref_small:  # rests on small counts: named, not flagged
                        entry["indicative"].append(m)
                        continue
                    entry["flags"].append(m)
                    all_flags.append({"attribute": attr, "group": group, "reference": ref_name, "metric": m,
                                      "ratio": entry["ratio"][m], "ci": entry["ratio_ci"][m],
                                      "small": entry["small"]})
            if quantiles is not None:
                entry["score_quantiles"] = quantiles[gi]
            groups_out.append(entry)

        defined = [g["group"] for g in groups_out
                   if not any(m in g["undefined"] for m in ("true_positive_rate", "false_positive_rate"))]
        disparities = _disparities(table, attr, defined, has_outcome)
        disparities["excluded_groups"] = [g for g in table.groups[attr] if g not in defined]
        large = [g["group"] for g in groups_out if g["group"] in defined and not g["small"]]
        disparities["excluding_small"] = _disparities(table, attr, large, has_outcome)
        attr_entry: dict[str, Any] = {"reference": ref_name, "reference_source": sources[attr],
                                      "parts": list(dict(attrs)[attr]), "groups": groups_out,
                                      "disparities": disparities}
        if scores is not None and has_outcome:
            attr_entry["calibration"] = _calibration(scores, out, table.index[attr][table.row_key],
                                                     table.groups[attr], spec.calibration.bands)
        result_attrs[attr] = attr_entry

    total = cells[names[0]].sum(0)
    overall_counts = _counts(total, has_outcome)
    overall_values = {m: (None if overall_counts[DENOMINATORS[m][0]] == 0 else
                          _num(_rates(total.astype(float), None if scores is None else np.array(scores.sum()),
                                      has_outcome)[m])) for m in metrics}
    overall = {**overall_counts, **{m: overall_values.get(m) for m in METRICS},
               "ci": {m: _interval(intervals[f"|{m}"]) if overall_values[m] is not None else None for m in metrics}}
    return {
        "schema": "hkc.audit/1",
        "n": int(len(frame)),
        "selection": {"column": selected, "label": selection_label, "population": population_label},
        "score": score,
        "outcome": outcome,
        "by": by,
        "thresholds": {"ratio_low": spec.flags.ratio_low, "ratio_high": spec.flags.ratio_high,
                       "require_interval": spec.flags.require_interval, "flag_metrics": list(spec.flags.metrics),
                       "small_cell": threshold, "confidence": b.confidence},
        "overall": overall,
        "attributes": result_attrs,
        "flags": all_flags,
        "undefined": all_undefined,
        "labels": labels,
        "provenance": {
            "spec_sha256": spec.digest(), "spec_path": str(spec.path) if spec.path else None,
            "n": int(len(frame)), "resamples": b.resamples, "seed": b.seed, "confidence": b.confidence,
            "interval_method": "percentile bootstrap; rows resampled with replacement (multinomial draws of "
                               "the distinct-row counts)",
            "mean_score_interval": ("exact score values" if table.score_bins is None
                                    else f"scores grouped into {table.score_bins} quantile bins"),
            "distinct_rows": int(len(table.weight)), "fairlearn": fairlearn.__version__,
        },
    }


# --------------------------------------------------------------------------------------------
# Composition against several baselines


BASELINE_LABELS = {
    "scored": "everyone scored",
    "population": "the resident population (age-matched)",
    "convicted": "people convicted of a weapon offence in the window",
}


def age_band(ages: pd.Series | np.ndarray, bands: Sequence[str]) -> pd.Series:
    """The band (``"10-13"``, ``"25+"``) of each age; ``None`` when no band holds it."""
    ages = pd.Series(ages)
    out = pd.Series([None] * len(ages), index=ages.index, dtype=object)
    for band in bands:
        match = _AGE_BAND.match(band)
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
        ``flag``), plus ``unavailable`` reasons.
    """
    spec = spec or AuditSpec()
    cohort = np.asarray(cohort_mask, dtype=bool)
    if len(cohort) != len(groups):
        raise HkcError(f"cohort_mask has {len(cohort)} rows but groups has {len(groups)}; pass one flag per person")
    columns = [c for c in groups.columns if c != "person_id"]
    if intersections is None:
        intersections = [i for i in spec.attributes.intersections if all(p in columns for p in i.split("*"))]
    attrs = [(c, (c,)) for c in columns] + [(i, tuple(i.split("*"))) for i in intersections]
    masks: dict[str, np.ndarray] = {}
    tables: dict[str, pd.DataFrame] = {}
    for name, base in baselines.items():
        if name in ("scored", "cohort"):
            raise HkcError(f"baseline name {name!r} is reserved (everyone scored is always included); rename it")
        if isinstance(base, pd.DataFrame) and "count" in base.columns:
            tables[name] = base
        elif isinstance(base, pd.Series) and pd.api.types.is_bool_dtype(base.dtype):
            if len(base) != len(groups):
                raise HkcError(f"baseline {name!r} has {len(base)} rows but groups has {len(groups)}; "
                               "pass one flag per scored person")
            masks[name] = base.to_numpy(dtype=bool)
        else:
            raise HkcError(BAD_BASELINE.format(name=name, kind=type(base).__name__))
    labels = {c: _group_labels(groups[c]) for c in columns}
    row_labels = {a: functools.reduce(lambda x, y: x + "*" + y, (labels[p] for p in parts))
                  for a, parts in attrs}
    group_names: dict[str, list[str]] = {}
    fixed_shares: dict[tuple[str, str], np.ndarray] = {}
    fixed_counts: dict[tuple[str, str], np.ndarray] = {}
    unavailable: dict[str, dict[str, str]] = defaultdict(dict)
    for attr, parts in attrs:
        present = set(row_labels[attr])
        counted: dict[str, pd.Series] = {}
        for name, tab in tables.items():
            missing = [p for p in parts if p not in tab.columns]
            if missing:
                unavailable[attr][name] = f"the {name} table has no column '{missing[0]}'"
                continue
            key = functools.reduce(lambda x, y: x + "*" + y, (_group_labels(tab[p]) for p in parts))
            counted[name] = pd.Series(tab["count"].to_numpy(dtype=float)).groupby(key).sum()
            present |= set(counted[name].index)
        group_names[attr] = sorted(present)
        for name, series in counted.items():
            vec = series.reindex(group_names[attr]).fillna(0.0).to_numpy()
            fixed_counts[(attr, name)] = vec
            fixed_shares[(attr, name)] = vec / vec.sum() if vec.sum() > 0 else np.full(len(vec), np.nan)

    # One key per distinct (attribute values, in cohort, in each sample baseline); resample rows.
    parts_frame = pd.DataFrame({c: labels[c] for c in columns} | {"_cohort": cohort}
                               | {f"_m{i}": m for i, m in enumerate(masks.values())})
    key = parts_frame.groupby(list(parts_frame.columns), sort=True).ngroup().to_numpy()
    k = int(key.max()) + 1
    weight = np.bincount(key, minlength=k)
    first = np.empty(k, dtype=np.int64)
    first[key[::-1]] = np.arange(len(key) - 1, -1, -1)
    samples = {"scored": np.ones(k, bool)} | {name: m[first] for name, m in masks.items()}
    blocks: list[np.ndarray] = []
    layout: dict[tuple[str, str], tuple[int, int]] = {}
    width = 0
    for attr, _ in attrs:
        g = len(group_names[attr])
        index = np.searchsorted(group_names[attr], row_labels[attr][first])
        onehot = np.zeros((k, g))
        onehot[np.arange(k), index] = 1.0
        for name, member in {"cohort": cohort[first], **samples}.items():
            blocks.append(onehot * member[:, None])
            layout[(attr, name)] = (width, g)
            width += g
    design = np.hstack(blocks)

    def statistic(draws: np.ndarray) -> dict[str, np.ndarray]:
        sums = draws @ design
        out = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for attr, _ in attrs:
                at, g = layout[(attr, "cohort")]
                share = sums[:, at:at + g] / sums[:, at:at + g].sum(1, keepdims=True)
                out[f"{attr}|cohort"] = share
                for name in samples:
                    at, g = layout[(attr, name)]
                    base = sums[:, at:at + g] / sums[:, at:at + g].sum(1, keepdims=True)
                    out[f"{attr}|{name}"] = share / base
                for name in tables:
                    if (attr, name) in fixed_shares:
                        out[f"{attr}|{name}"] = share / fixed_shares[(attr, name)]
        return out

    b = spec.bootstrap
    point = statistic(weight[None].astype(float))
    intervals = bootstrap_intervals(weight, statistic, resamples=b.resamples, seed=b.seed, confidence=b.confidence)
    point_counts = weight.astype(float) @ design
    result_attrs = {}
    for attr, _ in attrs:
        rows = []
        for gi, group in enumerate(group_names[attr]):
            at, _g = layout[(attr, "cohort")]
            share = _num(point[f"{attr}|cohort"][0, gi])
            entry: dict[str, Any] = {"group": group, "cohort_count": int(point_counts[at + gi]),
                                     "cohort_share": share,
                                     "cohort_share_ci": _interval(intervals[f"{attr}|cohort"][gi]) if share is not None
                                     else None, "baselines": {}}
            for name in [*samples, *tables]:
                if name in tables and (attr, name) not in fixed_shares:
                    continue
                count: float
                if name in samples:
                    at_b, _g = layout[(attr, name)]
                    count = int(point_counts[at_b + gi])
                    total = point_counts[at_b:at_b + _g].sum()
                    base_share = count / total if total > 0 else None
                else:
                    count = float(fixed_counts[(attr, name)][gi])
                    base_share = _num(fixed_shares[(attr, name)][gi])
                ratio = _num(point[f"{attr}|{name}"][0, gi]) if share is not None and base_share else None
                ci = _interval(intervals[f"{attr}|{name}"][gi]) if ratio is not None else None
                meets = _flagged(ratio, ci, spec)
                small = entry["cohort_count"] < spec.disclosure.small_cell or (
                    name in samples and count < spec.disclosure.small_cell)
                entry["baselines"][name] = {"count": count, "share": base_share, "ratio": ratio, "ratio_ci": ci,
                                            "flag": meets and not small, "indicative": meets and small,
                                            "undefined": None if ratio is not None or share is None else
                                            f"{group} is not in the {name} baseline"}
            rows.append(entry)
        result_attrs[attr] = {"groups": rows, "unavailable": dict(unavailable.get(attr, {}))}
    return {
        "cohort_n": int(cohort.sum()),
        "scored_n": int(len(cohort)),
        "baselines": {name: {"label": BASELINE_LABELS.get(name, name),
                             "kind": "sample" if name in samples else "counts",
                             "size": float(masks[name].sum()) if name in masks else
                             (float(len(cohort)) if name == "scored" else float(tables[name]["count"].sum()))}
                      for name in [*samples, *tables]},
        "attributes": result_attrs,
        "thresholds": {"ratio_low": spec.flags.ratio_low, "ratio_high": spec.flags.ratio_high,
                       "confidence": b.confidence},
    }


# --------------------------------------------------------------------------------------------
# Driver decomposition


def driver_decomposition(contributions: pd.DataFrame, groups: pd.DataFrame, *, attribute: str, reference: str,
                         indicator_flags: pd.DataFrame, spec: AuditSpec | None = None,
                         among: str = "everyone scored") -> dict:
    """Which indicators drive each group's risk points, and the gap to the reference group.

    Parameters
    ----------
    contributions : DataFrame
        ``person_id, axis, indicator, count, latest, points``; only ``axis == "risk"`` rows count.
    groups : DataFrame
        ``person_id`` and the ``attribute`` column, one row per person in the population studied
        (people without contributions have zero points).
    attribute, reference : str
        The attribute and its reference group.
    indicator_flags : DataFrame
        ``indicator, intelligence, proactive`` (bools), optionally ``label``.
    spec : AuditSpec, optional
        Bootstrap settings and the flag rule.
    among : str
        Words naming the population studied, for the findings.

    Returns
    -------
    dict
        Per group: ``n``, mean risk points overall (``mean_points`` with interval) and by
        indicator, shares of points from intelligence and from proactive indicators (with
        intervals), the ratio of mean points to the reference (interval, ``flag``), the gap to
        the reference split by indicator (sums to the gap), its intelligence and proactive parts
        (with intervals), the ``drivers`` (indicators carrying at least a quarter of the gap) and
        ``driven_by`` ("intelligence", "proactive" or "other").
    """
    spec = spec or AuditSpec()
    for frame, name, cols in ((contributions, "contributions", ("person_id", "axis", "indicator", "points")),
                              (groups, "groups", ("person_id", attribute)),
                              (indicator_flags, "indicator_flags", ("indicator", "intelligence", "proactive"))):
        for col in cols:
            _require(frame, col, f"{name} column", name)
    people = groups[["person_id", attribute]].drop_duplicates("person_id")
    codes, names = pd.factorize(_group_labels(people[attribute]), sort=True)
    names = [str(v) for v in names]
    if reference not in names:
        raise HkcError(UNKNOWN_REFERENCE.format(group=reference, attribute=attribute, groups=", ".join(names),
                                                fix="; pass a reference that is present"))
    ref = names.index(reference)
    g = len(names)
    risk = contributions[contributions["axis"] == "risk"]
    pos = pd.Index(people["person_id"]).get_indexer(risk["person_id"])
    ignored = int((pos < 0).sum())  # contributions of people outside ``groups``
    risk = risk[pos >= 0]
    pos = pos[pos >= 0]
    indicators = sorted(risk["indicator"].astype(str).unique())
    flags = indicator_flags.assign(indicator=indicator_flags["indicator"].astype(str)).set_index("indicator")
    missing = [i for i in indicators if i not in flags.index]
    if missing:
        raise HkcError(UNFLAGGED_INDICATOR.format(indicator=missing[0], present=", ".join(indicators)))
    intel = np.array([bool(flags.loc[i, "intelligence"]) for i in indicators], dtype=bool)
    proactive = np.array([bool(flags.loc[i, "proactive"]) for i in indicators], dtype=bool)
    ind_code = pd.Index(indicators).get_indexer(risk["indicator"].astype(str))
    nonzero, person = np.unique(pos, return_inverse=True)
    points = np.zeros((len(nonzero), len(indicators)))
    np.add.at(points, (person, ind_code), risk["points"].to_numpy(dtype=float))
    n_g = np.bincount(codes, minlength=g)
    # Bootstrap categories: each person with points, plus one "no points" category per group.
    cat_group = np.concatenate([codes[nonzero], np.arange(g)])
    cat_count = np.concatenate([np.ones(len(nonzero), np.int64),
                                n_g - np.bincount(codes[nonzero], minlength=g)])
    cat_points = np.vstack([points, np.zeros((g, len(indicators)))])
    onehot = np.zeros((len(cat_group), g))
    onehot[np.arange(len(cat_group)), cat_group] = 1.0
    design = np.hstack([onehot, onehot * cat_points.sum(1, keepdims=True),
                        onehot * cat_points[:, intel].sum(1, keepdims=True),
                        onehot * cat_points[:, proactive].sum(1, keepdims=True)])

    def statistic(draws: np.ndarray) -> dict[str, np.ndarray]:
        s = draws @ design
        n, total, itl, pro = s[:, :g], s[:, g:2 * g], s[:, 2 * g:3 * g], s[:, 3 * g:]
        with np.errstate(divide="ignore", invalid="ignore"):
            mean, mean_i, mean_p = total / n, itl / n, pro / n
            return {"mean": mean, "intel_share": itl / total, "proactive_share": pro / total,
                    "ratio": mean / mean[:, [ref]], "gap": mean - mean[:, [ref]],
                    "gap_intel": mean_i - mean_i[:, [ref]], "gap_proactive": mean_p - mean_p[:, [ref]]}

    b = spec.bootstrap
    point = {k: v[0] for k, v in statistic(cat_count[None].astype(float)).items()}
    ci = bootstrap_intervals(cat_count, statistic, resamples=b.resamples, seed=b.seed, confidence=b.confidence)
    by_indicator = np.zeros((g, len(indicators)))
    np.add.at(by_indicator, codes[nonzero], points)
    with np.errstate(divide="ignore", invalid="ignore"):
        by_indicator = by_indicator / n_g[:, None]
    rows = []
    for gi, group in enumerate(names):
        def val(key, gi=gi):
            return _num(point[key][gi])

        def interval(key, gi=gi):
            return _interval(ci[key][gi]) if val(key) is not None else None

        entry: dict[str, Any] = {
            "group": group, "n": int(n_g[gi]), "reference": gi == ref,
            "small": bool(n_g[gi] < spec.disclosure.small_cell),
            "mean_points": val("mean"), "mean_points_ci": interval("mean"),
            "by_indicator": {ind: float(by_indicator[gi, j]) for j, ind in enumerate(indicators)},
            "intelligence_share": val("intel_share"), "intelligence_share_ci": interval("intel_share"),
            "proactive_share": val("proactive_share"), "proactive_share_ci": interval("proactive_share"),
        }
        if gi != ref:
            ratio = val("ratio")
            gap = val("gap")
            gap_by = {ind: float(by_indicator[gi, j] - by_indicator[ref, j]) for j, ind in enumerate(indicators)}
            entry |= {"ratio": ratio, "ratio_ci": interval("ratio"),
                      "flag": _flagged(ratio, interval("ratio"), spec),
                      "gap": gap, "gap_ci": interval("gap"), "gap_by_indicator": gap_by,
                      "gap_intelligence": val("gap_intel"), "gap_intelligence_ci": interval("gap_intel"),
                      "gap_proactive": val("gap_proactive"), "gap_proactive_ci": interval("gap_proactive")}
            entry |= _drivers(gap, gap_by, entry["gap_intelligence"], entry["gap_proactive"])
            gap_ci = entry["gap_ci"]
            if gap_ci is None or gap_ci[0] <= 0 <= gap_ci[1]:
                entry["driven_by"] = None  # no gap beyond chance: nothing to attribute
        rows.append(entry)
    labels = (indicator_flags.assign(indicator=indicator_flags["indicator"].astype(str))
              .set_index("indicator")["label"].to_dict() if "label" in indicator_flags.columns else {})
    return {
        "attribute": attribute, "reference": reference, "among": among, "n": int(len(people)),
        "indicators": [{"indicator": ind, "label": str(labels.get(ind, ind)), "intelligence": bool(intel[j]),
                        "proactive": bool(proactive[j])} for j, ind in enumerate(indicators)],
        "groups": rows,
        "ignored_contributions": ignored,
        "provenance": {"resamples": b.resamples, "seed": b.seed, "confidence": b.confidence},
    }


def _drivers(gap: float | None, gap_by: Mapping[str, float], gap_intel: float | None,
             gap_proactive: float | None) -> dict[str, Any]:
    if gap is None or gap == 0:
        return {"intelligence_share_of_gap": None, "drivers": [], "driven_by": None}
    shares = {ind: v / gap for ind, v in gap_by.items()}
    ranked = sorted(shares, key=shares.get, reverse=True)
    drivers = [ind for ind in ranked if shares[ind] >= 0.25] or ranked[:1]
    intel_share = (gap_intel or 0.0) / gap
    proactive_share = (gap_proactive or 0.0) / gap
    driven_by = "intelligence" if intel_share > 0.5 else "proactive" if proactive_share > 0.5 else "other"
    return {"intelligence_share_of_gap": intel_share, "proactive_share_of_gap": proactive_share,
            "drivers": drivers, "driven_by": driven_by}


def audit_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """Flat aggregate figures for experiment tracking (MLflow): never a person-level value.

    Keys look like ``audit/ethnicity/Black/selection_rate`` and ``…/selection_rate_ratio``
    (characters MLflow rejects become ``_``; ``*`` becomes ``_x_``), plus the numbers of flags and
    undefined rates.  Pass the partner copy to log only what partners may see.
    """
    def key(*parts: str) -> str:
        return "/".join(re.sub(r"[^\w.\- ]", "_", str(p).replace("*", "_x_")) for p in parts)

    out: dict[str, float] = {"audit/n": float(result["n"]) if _num(result.get("n")) is not None else float("nan"),
                             "audit/flags": float(len(result.get("flags", []))),
                             "audit/undefined": float(len(result.get("undefined", [])))}
    for attr, a in result.get("attributes", {}).items():
        for g in a["groups"]:
            for m in METRICS:
                value = g.get(m)
                if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
                    out[key("audit", attr, g["group"], m)] = float(value)
                ratio = g.get("ratio", {}).get(m) if isinstance(g.get("ratio"), Mapping) else None
                if isinstance(ratio, int | float) and np.isfinite(ratio):
                    out[key("audit", attr, g["group"], f"{m}_ratio")] = float(ratio)
        for measure, value in a.get("disparities", {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
                out[key("audit", attr, measure)] = float(value)
    return out


# --------------------------------------------------------------------------------------------
# The generic audit of any scored file


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, low_memory=False)


READERS: dict[str, Callable[[Path], pd.DataFrame]] = {".csv": _read_csv, ".parquet": pd.read_parquet}


def run_file_audit(input: Path, *, score: str, threshold: float | None, selected: str | None, outcome: str | None,
                   by: Sequence[str], out: Path, spec: AuditSpec, reference: Mapping[str, str] | None = None,
                   title: str | None = None) -> dict:
    """``hkc audit --input FILE``: audit any scored CSV or Parquet file and write the report.

    Selected means ``score >= threshold`` (or the 0/1 ``selected`` column).  Writes
    ``out/audit.json``, ``out/audit.html`` and CSV tables; returns the result dictionary.
    """
    input = Path(input)
    if (threshold is None) == (selected is None):
        raise HkcError(SELECTION_CHOICE.format(what="both" if threshold is not None else "neither"))
    reader = READERS.get(input.suffix.lower())
    if reader is None:
        raise ExtractError(UNSUPPORTED_INPUT.format(path=input, ext=input.suffix, expected=" or ".join(READERS)),
                           file=str(input))
    if not input.is_file():
        raise ExtractError(f"{input}: file not found", file=str(input))
    frame = reader(input).reset_index(drop=True)
    offset = 2 if input.suffix.lower() == ".csv" else 1  # CSV: line numbers (the header is line 1)

    def row_of(position: int) -> str:
        return f"{'line' if offset == 2 else 'row'} {position + offset}"

    where = input.name
    for column, role in ([(score, "--score column")] + [(c, "--by column") for c in by]
                         + ([(outcome, "--outcome column")] if outcome is not None else [])
                         + ([(selected, "--selected column")] if selected is not None else [])):
        _require(frame, column, role, where)
    values = _numeric(frame, score, "--score column", where, row_of)
    if threshold is not None:
        selected_col = "selected (score >= threshold)"
        while selected_col in frame.columns:
            selected_col += "_"
        frame = frame.assign(**{selected_col: values >= threshold})
        label = f"rated {score} >= {threshold:g}"
    else:
        selected_col, label = selected, f"selected ({selected})"
    result = audit_selection(frame, selected=selected_col, by=by, score=score, outcome=outcome, spec=spec,
                             reference=reference, selection_label=label, population_label=f"{where}",
                             where=where, row_of=row_of)
    result["selection"] |= {"column": selected, "threshold": threshold}
    result["provenance"]["input"] = {"file": str(input), "sha256": hashlib.sha256(input.read_bytes()).hexdigest()}
    write_audit(result, Path(out), title=title or f"Fairness audit of {input.name}")
    return result
