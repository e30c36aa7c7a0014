"""Reading TOML into documented, frozen dataclasses: field docs, value checks, unknown keys."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hkc.errors import ConfigError
from hkc.messages import did_you_mean

__all__ = ['build_section', 'read_toml', 'doc', 'unknown_key', 'one_line', 'DAYS_MAX', 'AGE_MAX']


DAYS_MAX = 36_525  # a hundred years: the most any count of days may be (dates overflow far beyond)

AGE_MAX = 120

UNKNOWN_KEY = "unknown key '{key}' in {file} [{section}]{hint}"

BAD_VALUE = "{file} [{section}] {key} = {value!r}: {problem}"

MISSING_KEY = "{file} [{section}] is missing '{key}' ({doc})"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """Control characters (line breaks included) as escapes, so a message stays on one line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _shown(value: Any) -> str:
    """A value as a message shows it: its TOML-ish repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def doc(text: str, **rules: Any) -> dict[str, Any]:
    """Field metadata: its documentation and the rules its value must meet (min, max, choices)."""
    return {"doc": text, **rules}


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """A TOML definitions file's content and SHA-256; one-line ConfigError when missing or malformed."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; run `hkc init DIR` to create editable definitions",
                          file=str(path)) from None
    except OSError as exc:  # a folder, no permission, a device error
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(one_line(f"{path} cannot be read ({reason}); check that it is a file you may read"),
                          file=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}: not UTF-8 text (line {line}, byte 0x{raw[exc.start]:02x}); save it as UTF-8",
                          file=str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(one_line(f"{path}: not valid TOML ({exc}); fix the line it names"),
                          file=str(path)) from None
    return data, hashlib.sha256(raw).hexdigest()


def unknown_key(key: str, valid: Sequence[str], file: Path | str, section: str) -> ConfigError:
    """The error for a key ``file [section]`` does not have: the closest valid key, else all of them."""
    hint = did_you_mean(key, valid) or f"; valid keys: {', '.join(sorted(valid))}"
    return ConfigError(one_line(UNKNOWN_KEY.format(key=key, file=file, section=section, hint=hint)),
                       file=str(file), key=key)


def _range(meta: Mapping[str, Any]) -> str:
    """The allowed range of a number, as words: ' from 0 to 1', ' of at least 1', or ''."""
    if "min" in meta and "max" in meta:
        return f" from {meta['min']} to {meta['max']}"
    if "min" in meta:
        return f" of at least {meta['min']}"
    if "max" in meta:
        return f" of at most {meta['max']}"
    return ""


def _check_value(f: dataclasses.Field, value: Any, file: Path, section: str) -> Any:
    meta = f.metadata

    def bad(problem: str) -> ConfigError:
        return ConfigError(one_line(BAD_VALUE.format(file=file, section=section, key=f.name, value=_Shown(value),
                                                     problem=problem)), file=str(file), key=f.name)

    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind.startswith("Literal") or "choices" in meta:
        if isinstance(value, str | int | float | bool) and value in meta["choices"]:
            return value
        raise bad(f"must be one of {', '.join(map(repr, meta['choices']))}{did_you_mean(value, meta['choices'])}")
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("must be true or false")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(f"must be a whole number{_range(meta)}")
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(f"must be a number{_range(meta)}")
        if not math.isfinite(value):
            raise bad(f"must be a finite number{_range(meta)}")
        value = float(value)
    elif kind == "str":
        if not isinstance(value, str):
            raise bad("must be a string")
        return value
    elif kind.startswith("tuple"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("must be a list of strings")
        return tuple(value)
    both = "min" in meta and "max" in meta
    if "min" in meta and value < meta["min"]:
        raise bad(f"must be at least {meta['min']}" + (f" (allowed: {meta['min']} to {meta['max']})" if both else ""))
    if "max" in meta and value > meta["max"]:
        raise bad(f"must be at most {meta['max']}" + (f" (allowed: {meta['min']} to {meta['max']})" if both else ""))
    return value


class _Shown:
    """Formats as a value is shown in a message (``{value!r}`` in :data:`BAD_VALUE`)."""

    def __init__(self, value: Any):
        self.value = value

    def __repr__(self) -> str:
        return _shown(self.value)


def build_section(cls: type, table: Mapping[str, Any], file: Path, section: str, **fixed: Any) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in fixed and f.name not in ("path", "sha256")}
    for key in table:
        if key not in fields:
            raise unknown_key(key, sorted({*fields, *fixed}), file, section)  # a fixed table is a key too
    values: dict[str, Any] = dict(fixed)
    for name, f in fields.items():
        if name in table:
            values[name] = _check_value(f, table[name], file, section)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(one_line(MISSING_KEY.format(file=file, section=section, key=name,
                                                          doc=f.metadata["doc"])), file=str(file), key=name)
    return cls(**values)
