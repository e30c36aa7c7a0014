"""The audit specification: ``audits/fairness.toml`` as a frozen, documented :class:`AuditSpec`.

Which attributes are audited and against which reference groups, which groups are also compared
together (``[pooled]``), the bootstrap settings, the small-cell threshold, the flag rule
(:func:`flag_raised`), calibration bands and the words that name each group in the findings.
Every key is documented in its field's ``doc`` metadata (a test checks this); an unknown or
misspelt key is an error naming the closest valid key.  ``AuditSpec()`` gives the defaults
shipped in ``audits/fairness.toml``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hkc.definitions.deployment import Definitions, packaged_defaults
from hkc.definitions.fields import build_section, doc, one_line, read_toml, unknown_key
from hkc.errors import ConfigError
from hkc.messages import did_you_mean

__all__ = [
    "METRICS",
    "OUTCOME_METRICS",
    "DEFAULT_LABELS",
    "AGE_BAND",
    "refresh_audit_spec",
    "AttributeSettings",
    "BootstrapSettings",
    "DisclosureSettings",
    "FlagSettings",
    "CalibrationSettings",
    "PooledSettings",
    "DEFAULT_POOLED",
    "AuditSpec",
    "load_audit_spec",
    "flag_raised",
]


# The metrics audited, in report order (the last six need an outcome); [flags] metrics names some.
METRICS = ("selection_rate", "mean_score", "base_rate", "true_positive_rate", "false_positive_rate",
           "false_negative_rate", "true_negative_rate", "precision")
OUTCOME_METRICS = METRICS[2:]


DEFAULT_LABELS = {  # as in the shipped audits/fairness.toml
    "ethnicity": {"Asian": "Asian people", "Black": "Black people", "Mixed": "people of mixed ethnicity",
                  "White": "White people", "Other": "people of another ethnicity",
                  "Not stated": "people whose ethnicity is not stated"},
    "sex": {"F": "females", "M": "males", "X": "people recorded as sex X", "U": "people whose sex is unknown"},
}


@dataclass(frozen=True)
class AttributeSettings:
    columns: tuple[str, ...] = field(
        default=("ethnicity", "sex"), metadata=doc("sensitive attributes audited one at a time"))
    intersections: tuple[str, ...] = field(
        default=("ethnicity*sex",),
        metadata=doc("attributes audited together, written `a*b`; every part must be in `columns`"))
    age_bands: tuple[str, ...] = field(
        default=(), metadata=doc("optional age bands such as `10-13` or `25+`, audited as `age_band`; empty = off"))
    officer_fill: bool = field(
        default=True,
        metadata=doc("in a refresh's audit, where self-defined ethnicity is `Not stated`, use the officer-defined "
                      "code's group (IC1-IC2 White, IC3 Black, IC4-IC5 Asian, IC6 Other; IC9 or blank stays Not "
                      "stated); the audit records how many people were filled"))


@dataclass(frozen=True)
class BootstrapSettings:
    resamples: int = field(default=1000, metadata=doc("bootstrap resamples per interval", min=10, max=100_000))
    seed: int = field(default=20261101, metadata=doc("random seed: the same seed gives the same intervals", min=0))
    confidence: float = field(default=0.95, metadata=doc("confidence level of the percentile intervals",
                                                           min=0.5, max=0.999))
    score_bins: int = field(
        default=100,
        metadata=doc("continuous scores are grouped into this many quantile bins for the mean-score "
                      "interval only; counts, rates and point estimates stay exact", min=2, max=1000))


@dataclass(frozen=True)
class DisclosureSettings:
    small_cell: int = field(
        default=10,
        metadata=doc("counts under this are shown as `<N` in partner copies and their rates withheld; in the "
                      "auditor's copy a rate or ratio resting on such a count gets an exact interval, and a group "
                      "with fewer people than this behind a rate is marked `small` and raises no flag", min=1))


@dataclass(frozen=True)
class FlagSettings:
    ratio_low: float = field(default=0.8, metadata=doc("flag a ratio to the reference below this", min=0, max=1))
    ratio_high: float = field(default=1.25, metadata=doc("flag a ratio to the reference above this", min=1))
    require_interval: bool = field(
        default=True, metadata=doc("flag only when the ratio's interval also excludes 1"))
    metrics: tuple[str, ...] = field(
        default=("selection_rate", "false_positive_rate", "false_negative_rate"),
        metadata=doc("metrics whose ratios can raise a flag (any of METRICS)"))


@dataclass(frozen=True)
class CalibrationSettings:
    bands: int = field(
        default=10,
        metadata=doc("a score with at most this many distinct values uses each value as a band; "
                      "otherwise this many quantile bands", min=2, max=100))


@dataclass(frozen=True)
class PooledSettings:
    """One pooled comparison (``[pooled.<attribute>]``): several groups compared together with the reference.

    At a county's cohort of about 50 people every minority group's count is under the small-cell
    threshold, so no group can be assessed on its own; the groups taken together can be.  The
    pooled groups are audited as the attribute ``<attribute> (pooled)``, whose other groups (the
    reference, and any group not pooled) stay as they are.
    """

    groups: tuple[str, ...] = field(
        default=(), metadata=doc("the attribute's groups compared together, as one group, with its reference group; "
                                  "the reference may not be one of them"))
    name: str = field(default="Pooled", metadata=doc("the pooled group's name in tables, charts and CSV files"))
    label: str = field(
        default="", metadata=doc("noun phrase naming the pooled group in the findings (the groups present are added "
                                  "in brackets); empty: '<name> people'"))


DEFAULT_POOLED = {  # as in the shipped audits/fairness.toml
    "ethnicity": PooledSettings(groups=("Asian", "Black", "Mixed", "Other"), name="Minority ethnic (pooled)",
                                label="people of all minority ethnic groups together"),
}


@dataclass(frozen=True)
class AuditSpec:
    """The audit specification (``audits/fairness.toml``); ``AuditSpec()`` gives the defaults."""

    attributes: AttributeSettings = field(default_factory=AttributeSettings,
                                          metadata=doc("which attributes are audited"))
    reference: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({"ethnicity": "White", "sex": "M"}),
        metadata=doc("reference group per attribute; missing: the largest group (intersections: "
                      "the parts' references combined)"))
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings, metadata=doc("intervals"))
    disclosure: DisclosureSettings = field(default_factory=DisclosureSettings,
                                           metadata=doc("small-cell suppression"))
    flags: FlagSettings = field(default_factory=FlagSettings, metadata=doc("when a disparity is flagged"))
    calibration: CalibrationSettings = field(default_factory=CalibrationSettings,
                                             metadata=doc("calibration by group"))
    labels: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({k: MappingProxyType(v) for k, v in DEFAULT_LABELS.items()}),
        metadata=doc("noun phrases naming groups in the findings, per attribute"))
    pooled: Mapping[str, PooledSettings] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_POOLED)),
        metadata=doc("pooled comparisons per attribute (see PooledSettings): groups compared together with the "
                      "reference, audited as the attribute `<attribute> (pooled)`"))
    path: Path | None = field(default=None, compare=False, metadata=doc("file loaded (not a key)"))
    sha256: str = field(default="", compare=False, metadata=doc("hash of the file (not a key)"))

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
# An age band as written in the spec and the population file: "10-13" or "25+".
AGE_BAND = re.compile(r"^(\d{1,3})(?:-(\d{1,3})|\+)$")


def load_audit_spec(path: Path | str | None = None) -> AuditSpec:
    """Load an audit specification, rejecting unknown keys and bad values.

    ``path`` defaults to the ``audits/fairness.toml`` shipped with hkc.
    """
    path = Path(path) if path is not None else packaged_defaults() / "audits" / "fairness.toml"
    data, digest = read_toml(path)
    valid = [*_SECTIONS, "reference", "labels", "pooled"]
    built: dict[str, Any] = {}
    for name, table in data.items():
        if name not in valid:
            raise unknown_key(name, valid, path, "top level")
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
        if not AGE_BAND.match(band):
            raise ConfigError(f"{path} [attributes] age_bands: {band!r} is not an age band like '10-13' or '25+'",
                              file=str(path), key="age_bands")
    flags = built.get("flags", FlagSettings())
    for metric in flags.metrics:
        if metric not in METRICS:
            raise ConfigError(one_line(f"{path} [flags] metrics: unknown metric {metric!r}; valid: "
                                       f"{', '.join(METRICS)}{did_you_mean(metric, METRICS)}"),
                              file=str(path), key="metrics")
    keys = [*attrs.columns, *attrs.intersections] + (["age_band"] if attrs.age_bands else [])
    reference = data.get("reference", {k: v for k, v in AuditSpec().reference.items() if k in keys})
    for key, value in reference.items():
        if key not in keys:
            raise unknown_key(key, keys, path, "reference")
        if not isinstance(value, str):
            raise ConfigError(f"{path} [reference] {key} = {value!r}: must be a group name in quotes",
                              file=str(path), key=key)
    labels: dict[str, Mapping[str, str]] = {}
    for key, table in data.get("labels", {k: v for k, v in DEFAULT_LABELS.items() if k in keys}).items():
        if key not in keys:
            raise unknown_key(key, keys, path, "labels")
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise ConfigError(f"{path} [labels.{key}] must map group names to phrases in quotes",
                              file=str(path), key=key)
        labels[key] = MappingProxyType(dict(table))
    pooled = _load_pooled(data.get("pooled"), keys=[*attrs.columns] + (["age_band"] if attrs.age_bands else []),
                          reference=reference, path=path)
    return AuditSpec(**built, reference=MappingProxyType(dict(reference)), labels=MappingProxyType(labels),
                     pooled=MappingProxyType(pooled), path=path, sha256=digest)


def _load_pooled(data: Any, *, keys: list[str], reference: Mapping[str, Any], path: Path) -> dict[str, PooledSettings]:
    """``[pooled.<attribute>]`` tables; without a ``[pooled]`` table, the defaults for the attributes audited."""
    if data is None:
        return {k: v for k, v in DEFAULT_POOLED.items() if k in keys}
    pooled: dict[str, PooledSettings] = {}
    for key, table in data.items():
        if key not in keys:
            raise unknown_key(key, keys, path, "pooled")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [pooled.{key}] must be a table with groups, name and label",
                              file=str(path), key=key)
        entry = build_section(PooledSettings, table, path, f"pooled.{key}")
        problem = None
        if len(entry.groups) < 2 or len(set(entry.groups)) != len(entry.groups):
            problem = "groups must list two or more different groups"
        elif reference.get(key) in entry.groups:
            problem = f"groups may not include the reference group {reference[key]!r}"
        elif not entry.name.strip() or entry.name in entry.groups:
            problem = f"name {entry.name!r} must be non-empty and differ from the groups pooled"
        if problem:
            raise ConfigError(one_line(f"{path} [pooled.{key}]: {problem}"), file=str(path), key=key)
        pooled[key] = entry
    return pooled


def flag_raised(ratio: float | None, ci: list[float] | None, spec: AuditSpec) -> bool:
    """The flag rule: ``ratio`` lies outside the spec's band and (when required) ``ci`` excludes 1."""
    f = spec.flags
    if ratio is None or not (ratio < f.ratio_low or ratio > f.ratio_high):
        return False
    if not f.require_interval:
        return True
    return ci is not None and (ci[0] > 1.0 or ci[1] < 1.0)



def refresh_audit_spec(definitions: Definitions) -> AuditSpec:
    """The deployment folder's ``audits/fairness.toml``, else the shipped one."""
    path = definitions.root / "audits" / "fairness.toml"
    return load_audit_spec(path if path.is_file() else None)
