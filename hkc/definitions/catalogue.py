"""The indicator catalogue: ``features/indicators.toml`` as a frozen, documented :class:`Catalogue`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from hkc.definitions.fields import (
    BAD_VALUE,
    DAYS_MAX,
    MISSING_KEY,
    _Shown,
    _shown,
    build_section,
    doc,
    one_line,
    read_toml,
    unknown_key,
)
from hkc.errors import ConfigError
from hkc.messages import did_you_mean

__all__ = ['AXES', 'Indicator', 'Catalogue', 'load_catalogue']


AXES = ("risk", "vulnerability")

ROLES = ("offender", "suspect", "victim", "witness", "subject")

OUTCOMES = ("convicted", "charged", "cautioned", "pending", "nfa")


@dataclass(frozen=True)
class Indicator:
    """One event type of the catalogue and how its events earn points."""

    code: str = field(metadata=doc("the event `type` code, the table name in the catalogue"))
    label: str = field(metadata=doc("plain-English name used in rationales"))
    axis: Literal["risk", "vulnerability"] = field(
        metadata=doc("which score the points go to", choices=AXES)
    )
    roles: tuple[str, ...] = field(
        metadata=doc("roles whose events count; `victim` never counts on the risk axis")
    )
    gravity: float = field(metadata=doc("points for one event at full evidence today", min=0))
    half_life_days: float = field(
        metadata=doc("days after which an event's points halve (recency)", min=1, max=DAYS_MAX)
    )
    lookback_days: int = field(metadata=doc("events older than this count nothing", min=1, max=DAYS_MAX))
    frequency_cap: int = field(
        metadata=doc("at most this many events of the type count per person", min=1)
    )
    frequency_decay: float = field(
        metadata=doc(
            "the k-th strongest event (k = 0, 1, …) counts decay**k: diminishing returns",
            min=0,
            max=1,
        )
    )
    evidence: Literal["outcome", "grade", "none"] = field(
        metadata=doc(
            "which evidence multiplier applies: by outcome, by intelligence grade, or none (1)",
            choices=("outcome", "grade", "none"),
        )
    )
    weapon: bool = field(metadata=doc("weapon-related: can make a person eligible"))
    intelligence: bool = field(
        metadata=doc("an intelligence report: qualifies only when corroborated (two usable reports from "
                     "different sources, or with one credibly graded; see [eligibility] in config/hkc.toml)")
    )
    proactive: bool = field(
        metadata=doc("police-generated (by police activity such as stop and search or intelligence gathering) "
                     "rather than reported: never makes anyone eligible alone unless [eligibility] "
                     "allow_police_generated_only; the audit shows its share")
    )


@dataclass(frozen=True)
class Catalogue:
    """The indicator catalogue with its evidence multipliers."""

    version: str
    indicators: Mapping[str, Indicator]
    outcome_multipliers: Mapping[str, float]
    role_multipliers: Mapping[str, float]
    grade_source: Mapping[str, float]
    grade_assessment: Mapping[str, float]
    grade_missing: float
    path: Path
    sha256: str

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self.indicators)

    def on_axis(self, axis: str) -> tuple[Indicator, ...]:
        return tuple(i for i in self.indicators.values() if i.axis == axis)


def _table(value: Any, path: Path, section: str, *, key: str | None = None) -> dict[str, Any]:
    """``value`` when it is a TOML table; else a one-line error naming ``[section]``."""
    if not isinstance(value, dict):
        raise ConfigError(one_line(f"{path}: [{section}] must be a table, not {_shown(value)}"), file=str(path),
                          key=key or section.rsplit(".", 1)[-1])
    return value


def _not_in(value: str, valid: Sequence[str], noun: str) -> str:
    """'unknown role 'x'; valid: …' with the closest valid value when there is one."""
    return f"unknown {noun} {_shown(value)}; valid: {', '.join(valid)}{did_you_mean(value, valid)}"


def _multipliers(table: Any, path: Path, section: str, keys: tuple[str, ...] | None) -> dict[str, float]:
    table = _table(table, path, section)
    out = {}
    for key, value in table.items():
        if keys is not None and key not in keys:
            raise unknown_key(key, list(keys), path, section)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ConfigError(one_line(BAD_VALUE.format(file=path, section=section, key=key, value=_Shown(value),
                                                        problem="must be a finite number of at least 0")),
                              file=str(path), key=key)
        out[key] = float(value)
    if keys is not None:
        missing = [k for k in keys if k not in out]
        if missing:
            raise ConfigError(MISSING_KEY.format(file=path, section=section, key=missing[0],
                                                 doc="a multiplier"), file=str(path), key=missing[0])
    return out


def load_catalogue(path: Path) -> Catalogue:
    """Load ``features/indicators.toml`` into a :class:`Catalogue`."""
    data, digest = read_toml(path)
    for key in data:
        if key not in ("version", "evidence", "types"):
            raise unknown_key(key, ["evidence", "types", "version"], path, "top level")
    for key in ("version", "evidence", "types"):
        if key not in data:
            raise ConfigError(MISSING_KEY.format(file=path, section="top level", key=key,
                                                 doc="see the catalogue's header"), file=str(path), key=key)
    evidence = _table(data["evidence"], path, "evidence")
    for key in evidence:
        if key not in ("outcome", "role", "grade"):
            raise unknown_key(key, ["grade", "outcome", "role"], path, "evidence")
    outcome = _multipliers(evidence.get("outcome", {}), path, "evidence.outcome", OUTCOMES + ("none",))
    role = _multipliers(evidence.get("role", {}), path, "evidence.role", ROLES)
    grade = _table(evidence.get("grade", {}), path, "evidence.grade")
    for key in grade:
        if key not in ("source", "assessment", "missing"):
            raise unknown_key(key, ["assessment", "missing", "source"], path, "evidence.grade")
    source = _multipliers(grade.get("source", {}), path, "evidence.grade.source", tuple("ABCDE"))
    assessment = _multipliers(grade.get("assessment", {}), path, "evidence.grade.assessment", tuple("12345"))
    missing = _multipliers({"missing": grade.get("missing", 0.3)}, path, "evidence.grade", None)["missing"]

    indicators: dict[str, Indicator] = {}
    for code, table in _table(data["types"], path, "types").items():
        section = f"types.{code}"
        ind = build_section(Indicator, _table(table, path, section, key=code), path, section, code=code)
        bad_roles = [r for r in ind.roles if r not in ROLES]
        if bad_roles:
            raise ConfigError(one_line(BAD_VALUE.format(file=path, section=section, key="roles",
                                                        value=_Shown(list(ind.roles)),
                                                        problem=_not_in(bad_roles[0], ROLES, "role"))),
                              file=str(path), key="roles")
        if ind.axis == "risk" and ("victim" in ind.roles or "witness" in ind.roles):
            raise ConfigError(one_line(BAD_VALUE.format(file=path, section=section, key="roles",
                                                        value=list(ind.roles),
                                                        problem="a victim or witness role never counts on the "
                                                                "risk axis")),
                              file=str(path), key="roles")
        if ind.weapon and ind.axis != "risk":
            raise ConfigError(one_line(BAD_VALUE.format(file=path, section=section, key="weapon", value=True,
                                                        problem="only risk-axis types can be weapon-related")),
                              file=str(path), key="weapon")
        indicators[code] = ind
    if not indicators:
        raise ConfigError(f"{path}: the catalogue has no [types.*] entries", file=str(path), key="types")
    return Catalogue(
        version=str(data["version"]),
        indicators=MappingProxyType(indicators),
        outcome_multipliers=MappingProxyType(outcome),
        role_multipliers=MappingProxyType(role),
        grade_source=MappingProxyType(source),
        grade_assessment=MappingProxyType(assessment),
        grade_missing=missing,
        path=path,
        sha256=digest,
    )
