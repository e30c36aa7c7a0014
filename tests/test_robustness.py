"""Hostile and malformed input: one line naming what is wrong and where, exit code 2, no traceback.

Two halves.  The definitions: in every kind of TOML file (settings, indicator catalogue, model
specification, audit specification) a misspelt key — at the top level, in a section, or in a
nested table such as one indicator — names the file, the key and the closest valid key, and a
value out of range names the allowed range.  The extract: a cut-short Parquet file, a CSV with
the wrong delimiter or encoding, an empty folder, a file of garbage, a stray '"', a NUL byte and a
population file that is a FIFO each stop ``hkc validate`` and ``hkc refresh`` with one line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import math
import os
import re
import string
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from cli import main
from hkc.definitions.audit_spec import AuditSpec, load_audit_spec
from hkc.definitions.catalogue import Indicator, load_catalogue
from hkc.definitions.deployment import init_deployment
from hkc.definitions.fields import BAD_VALUE, UNKNOWN_KEY
from hkc.definitions.model_spec import ModelSpec, read_model_spec
from hkc.definitions.settings import Settings, load_settings
from hkc.errors import ConfigError
from hkc.extract.contract import FILE_ERRORS, ROLE_CODES, RULES
from tests.builders import ExtractBuilder

ROOT = Path(__file__).resolve().parents[1]
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
EXAMPLES = settings(max_examples=int(os.environ.get("HKC_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# --------------------------------------------------------------------------------------------
# The definitions: every kind of TOML file


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of definitions file: the shipped copy, its loader, and how its tables are checked."""

    name: str
    shipped: Path
    load: Callable[[Path], Any]
    root: type | None  # the dataclass whose fields are the sections (None: the catalogue)
    free_keys: tuple[str, ...] = ()  # tables whose keys are names, not settings (indicator codes, groups)


KINDS = {
    "settings": Kind("settings", ROOT / "config" / "hkc.toml", load_settings, Settings),
    "catalogue": Kind("catalogue", ROOT / "features" / "indicators.toml", load_catalogue, None, ("types",)),
    "model spec": Kind("model spec", ROOT / "models" / "logistic.toml", read_model_spec, ModelSpec),
    "audit spec": Kind("audit spec", ROOT / "audits" / "fairness.toml", load_audit_spec, AuditSpec,
                       ("labels.ethnicity", "labels.sex")),
}


def _load_error(kind: Kind, path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        kind.load(path)
    message = str(info.value)
    assert not CONTROL.search(message), message  # one line, nothing that garbles a terminal
    assert info.value.file == str(path)
    return info.value


def _edited(tmp_path: Path, kind: Kind, old: str, new: str) -> Path:
    text = kind.shipped.read_text()
    assert old in text, old
    path = tmp_path / kind.shipped.name
    path.write_text(text.replace(old, new, 1))
    return path


# Examples to read: each kind, a misspelling at each depth, and values out of range.
MISSPELT = [
    ("settings", "[cohort]", "[cohrot]", "cohrot", "top level", "cohort"),
    ("settings", "size = 50", "sise = 50", "sise", "cohort", "size"),
    ("settings", "review_window_days = 365", "review_windows_days = 365", "review_windows_days", "eligibility",
     "review_window_days"),
    ("catalogue", 'version = "', 'verison = "', "verison", "top level", "version"),
    ("catalogue", "[evidence.role]", "[evidence.roles]", "roles", "evidence", "role"),
    ("catalogue", "cautioned = 0.7", "cautoined = 0.7", "cautoined", "evidence.outcome", "cautioned"),
    ("catalogue", "half_life_days = 270", "half_lif_days = 270", "half_lif_days", "types.knife_possession",
     "half_life_days"),
    ("model spec", "[label]", "[labels]", "labels", "top level", "label"),
    ("model spec", "resamples = 1000", "resample = 1000", "resample", "evaluation", "resamples"),
    ("model spec", "max_iter = 1000", "max_iters = 1000", "max_iters", "estimator.params (LogisticRegression)",
     "max_iter"),
    ("audit spec", "[bootstrap]", "[bootstrp]", "bootstrp", "top level", "bootstrap"),
    ("audit spec", "ratio_low = 0.8", "ratio_lo = 0.8", "ratio_lo", "flags", "ratio_low"),
    ("audit spec", 'ethnicity = "White"', 'ethnicty = "White"', "ethnicty", "reference", "ethnicity"),
    ("audit spec", "[labels.ethnicity]", "[labels.ethnicty]", "ethnicty", "labels", "ethnicity"),
]


@pytest.mark.parametrize(("kind", "old", "new", "key", "section", "closest"), MISSPELT,
                         ids=[f"{m[0]}:{m[4]}:{m[3]}" for m in MISSPELT])
def test_misspelt_key_names_the_file_the_key_and_the_closest_valid_key(tmp_path, kind, old, new, key, section,
                                                                       closest):
    path = _edited(tmp_path, KINDS[kind], old, new)
    err = _load_error(KINDS[kind], path)
    assert str(err) == UNKNOWN_KEY.format(key=key, file=path, section=section, hint=f"; did you mean '{closest}'?")
    assert err.key == key


OUT_OF_RANGE = [
    ("settings", "size = 50", "size = 0", "cohort", "size", 0, "must be at least 1"),
    ("settings", "red_share = 0.2", "red_share = 1.5", "rag", "red_share", 1.5, "must be at most 1 (allowed: 0 to 1)"),
    ("settings", "max_age = 17", "max_age = 1000", "eligibility", "max_age", 1000,
     "must be at most 120 (allowed: 0 to 120)"),
    ("settings", "\ndays = 730", "\ndays = 10000000000", "retention", "days", 10_000_000_000,
     "must be at most 36525 (allowed: 1 to 36525)"),
    ("settings", "size = 50", 'size = "fifty"', "cohort", "size", "fifty", "must be a whole number of at least 1"),
    ("catalogue", "frequency_decay = 0.6", "frequency_decay = 1.5", "types.knife_violence", "frequency_decay", 1.5,
     "must be at most 1 (allowed: 0 to 1)"),
    ("catalogue", "half_life_days = 270", "half_life_days = nan", "types.knife_possession", "half_life_days",
     math.nan, "must be a finite number from 1 to 36525"),
    ("catalogue", "charged = 0.8", "charged = -0.8", "evidence.outcome", "charged", -0.8,
     "must be a finite number of at least 0"),
    ("model spec", "confidence = 0.95", "confidence = 1.5", "evaluation", "confidence", 1.5,
     "must be at most 0.999 (allowed: 0.5 to 0.999)"),
    ("model spec", "train = 6", "train = 0", "snapshots", "train", 0, "must be at least 1 (allowed: 1 to 40)"),
    ("model spec", 'method = "sigmoid"', 'method = "sigmod"', "calibration", "method", "sigmod",
     "must be one of 'sigmoid', 'isotonic', 'temperature'; did you mean 'sigmoid'?"),
    ("audit spec", "resamples = 1000", "resamples = 5", "bootstrap", "resamples", 5,
     "must be at least 10 (allowed: 10 to 100000)"),
    ("audit spec", "small_cell = 10", "small_cell = 0", "disclosure", "small_cell", 0, "must be at least 1"),
    ("audit spec", "ratio_high = 1.25", "ratio_high = inf", "flags", "ratio_high", math.inf,
     "must be a finite number of at least 1"),
]


@pytest.mark.parametrize(("kind", "old", "new", "section", "key", "value", "problem"), OUT_OF_RANGE,
                         ids=[f"{o[0]}:{o[3]}:{o[4]}={o[5]}" for o in OUT_OF_RANGE])
def test_value_out_of_range_names_the_allowed_range(tmp_path, kind, old, new, section, key, value, problem):
    path = _edited(tmp_path, KINDS[kind], old, new)
    err = _load_error(KINDS[kind], path)
    assert str(err) == BAD_VALUE.format(file=path, section=section, key=key, value=value, problem=problem)
    assert err.key == key


# ---- the same, as properties over every table and every numeric key of every kind


def _to_toml(data: dict[str, Any]) -> str:
    """A minimal TOML writer for the definitions files (tables, strings, numbers, booleans, lists)."""

    def text(t: str) -> str:  # a basic string: quotes, backslashes and control characters escaped
        return '"' + "".join(f"\\u{ord(c):04x}" if c in '"\\' or ord(c) < 0x20 or ord(c) == 0x7F else c
                             for c in t) + '"'

    def key(k: str) -> str:
        return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else text(k)

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float) and not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str):
            return text(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(v)

    lines: list[str] = []

    def table(path: list[str], t: dict[str, Any]) -> None:
        scalars = {k: v for k, v in t.items() if not isinstance(v, dict)}
        if path and (scalars or not t):
            lines.append("[" + ".".join(key(p) for p in path) + "]")
        lines.extend(f"{key(k)} = {value(v)}" for k, v in scalars.items())
        for k, v in t.items():
            if isinstance(v, dict):
                table([*path, k], v)

    table([], data)
    return "\n".join(lines) + "\n"


def _shipped(kind: Kind) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(kind.shipped.read_text())


def _tables(data: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every table in ``data`` (the top level is ``()``)."""
    out = [path]
    for k, v in data.items():
        if isinstance(v, dict):
            out += _tables(v, (*path, k))
    return out


def _within(data: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for p in path:
        data = data[p]
    return data


def _shipped_table(kind: Kind, path: tuple[str, ...]) -> dict[str, Any]:
    return _within(_shipped(kind), path)


def _section_name(kind: Kind, path: tuple[str, ...]) -> str:
    if not path:
        return "top level"
    if path == ("estimator", "params"):
        return "estimator.params (LogisticRegression)"
    return ".".join(path)


def _every_name() -> set[str]:
    """Every key any definitions table accepts (a typo that is one of these may be valid)."""
    names = set(LogisticRegression().get_params())
    for kind in KINDS.values():
        for path in _tables(_shipped(kind)):
            names |= set(_shipped_table(kind, path))
    classes = [Settings, ModelSpec, AuditSpec, Indicator]
    while classes:
        cls = classes.pop()
        for f in dataclasses.fields(cls):
            names.add(f.name)
            if dataclasses.is_dataclass(f.default_factory if f.default_factory is not dataclasses.MISSING else None):
                classes.append(f.default_factory)
    return names


NAMES = _every_name()


KEYED_TABLES = [(name, path) for name, kind in KINDS.items() for path in _tables(_shipped(kind))
                if ".".join(path) not in kind.free_keys and _shipped_table(kind, path)]


@st.composite
def typos(draw, word: str) -> str:
    """``word`` with one letter dropped, added, changed or two swapped."""
    letters = string.ascii_lowercase + "_"
    i = draw(st.integers(0, len(word) - 1))
    edit = draw(st.sampled_from(["drop", "add", "change", "swap"] if len(word) > 1 else ["add", "change"]))
    if edit == "drop":
        return word[:i] + word[i + 1:]
    if edit == "add":
        return word[:i] + draw(st.sampled_from(letters)) + word[i:]
    if edit == "change":
        return word[:i] + draw(st.sampled_from(letters)) + word[i + 1:]
    i = min(i, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


@EXAMPLES
@given(data=st.data(), where=st.sampled_from(KEYED_TABLES))
def test_any_misspelt_key_in_any_table_names_the_closest_valid_key(data, where):
    name, path = where
    kind = KINDS[name]
    shipped = _shipped(kind)
    table = _within(shipped, path)
    key = data.draw(st.sampled_from(sorted(table)))
    typo = data.draw(typos(key))
    assume(typo not in NAMES and typo.lower() not in {n.lower() for n in NAMES} and typo.strip())
    renamed = {typo if k == key else k: v for k, v in table.items()}
    if path:
        _within(shipped, path[:-1])[path[-1]] = renamed
    else:
        shipped = renamed
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / kind.shipped.name
        file.write_text(_to_toml(shipped))
        err = _load_error(kind, file)
    message = str(err)
    prefix = UNKNOWN_KEY.format(key=typo, file=file, section=_section_name(kind, path), hint="")
    assert message.startswith(prefix), message
    hint = message[len(prefix):]
    suggested = re.fullmatch(r"; did you mean '(.+)'\?", hint)
    if suggested:
        assert _similarity(suggested[1], typo) >= _similarity(key, typo) or suggested[1].lower() == typo.lower()
    else:  # one edit is too far to guess only for a key of a letter or two: then every valid key is listed
        assert len(key) <= 2, message
        assert key in re.fullmatch(r"; valid keys: (.+)", hint)[1].split(", ")


def _numeric_fields(kind: Kind) -> list[tuple[tuple[str, ...], dataclasses.Field]]:
    """(table path, field) of every number with a range that the shipped file sets."""
    out = []
    shipped = _shipped(kind)
    if kind.root is None:
        sections = [(("types", code), Indicator) for code in shipped["types"]]
    else:
        sections = [((f.name,), f.default_factory) for f in dataclasses.fields(kind.root)
                    if f.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(f.default_factory)
                    and f.name in shipped]
    for path, cls in sections:
        for f in dataclasses.fields(cls):
            if ("min" in f.metadata or "max" in f.metadata) and f.name in _shipped_table(kind, path):
                out.append((path, f))
    return out


NUMBERS = [(name, path, f) for name, kind in KINDS.items() for path, f in _numeric_fields(KINDS[name])]


def test_every_kind_has_numbers_with_ranges():
    assert {name for name, _, _ in NUMBERS} == set(KINDS)


@EXAMPLES
@given(data=st.data(), where=st.sampled_from(NUMBERS))
def test_any_number_out_of_range_names_the_allowed_range(data, where):
    name, path, f = where
    kind = KINDS[name]
    low, high = f.metadata.get("min"), f.metadata.get("max")
    whole = f.type in ("int", int)
    outside = []
    if low is not None:
        outside.append(st.integers(max_value=math.ceil(low) - 1) if whole
                       else st.floats(max_value=low, exclude_max=True, allow_nan=False, allow_infinity=False))
    if high is not None:
        outside.append(st.integers(min_value=math.floor(high) + 1, max_value=2**63 - 1) if whole
                       else st.floats(min_value=high, exclude_min=True, allow_nan=False, allow_infinity=False))
    if not whole:
        outside.append(st.sampled_from([math.nan, math.inf, -math.inf]))
    value = data.draw(st.one_of(outside))
    assume(not whole or -(2**63) <= value)
    shipped = _shipped(kind)
    _within(shipped, path)[f.name] = value
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / kind.shipped.name
        file.write_text(_to_toml(shipped))
        message = str(_load_error(kind, file))
    prefix = f"{file} [{'.'.join(path)}] {f.name} = "
    assert message.startswith(prefix), message
    if isinstance(value, float) and not math.isfinite(value):
        assert ": must be a finite number" in message
    if low is not None and high is not None:
        assert f"{low} to {high}" in message
    elif low is not None:
        assert f"at least {low}" in message
    else:
        assert f"at most {high}" in message


@EXAMPLES
@given(kind=st.sampled_from(sorted(KINDS)), key=st.text(min_size=1, max_size=12))
def test_any_unknown_top_level_key_is_one_line_naming_it(kind, key):
    assume(key not in NAMES)
    shipped = _shipped(KINDS[kind]) | {key: 1}
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / KINDS[kind].shipped.name
        file.write_text(_to_toml(shipped))
        err = _load_error(KINDS[kind], file)
    assert err.key == key
    assert str(err).startswith("unknown key '")
    assert f"in {file} [top level]" in str(err)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_section_that_is_not_a_table_is_one_line(tmp_path, kind):
    shipped = _shipped(KINDS[kind])
    section = next(k for k, v in shipped.items() if isinstance(v, dict))
    path = tmp_path / KINDS[kind].shipped.name
    path.write_text(_to_toml(shipped | {section: 3}))
    assert str(_load_error(KINDS[kind], path)).startswith(f"{path}: [{section}] must be a table")


def test_catalogue_tables_that_are_not_tables_are_one_line(tmp_path):
    kind = KINDS["catalogue"]
    for edit in ({"evidence": {"grade": "A"}}, {"types": 5}, {"types": {"violence": [1, 2]}}):
        shipped = _shipped(kind)
        for section, value in edit.items():
            if isinstance(value, dict) and isinstance(shipped[section], dict):
                shipped[section] = shipped[section] | value
            else:
                shipped[section] = value
        path = tmp_path / "indicators.toml"
        path.write_text(_to_toml(shipped))
        assert "must be a table" in str(_load_error(kind, path))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_definitions_file_that_is_a_folder_or_not_utf8_is_one_line(tmp_path, kind):
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    assert "cannot be read" in str(_load_error(KINDS[kind], folder))
    latin = tmp_path / KINDS[kind].shipped.name
    latin.write_bytes(KINDS[kind].shipped.read_bytes() + '\n# café\n'.encode("latin-1"))
    lines = KINDS[kind].shipped.read_bytes().count(b"\n") + 2
    assert str(_load_error(KINDS[kind], latin)) == (f"{latin}: not UTF-8 text (line {lines}, byte 0xe9); "
                                                    f"save it as UTF-8")


def test_unknown_role_in_a_list_suggests_the_closest(tmp_path):
    path = _edited(tmp_path, KINDS["settings"], 'roles = ["offender", "suspect"]', 'roles = ["offender", "suspcet"]')
    assert str(_load_error(KINDS["settings"], path)) == (
        f"{path} [outcome] roles: unknown role 'suspcet'; valid: {', '.join(ROLE_CODES)}; did you mean 'suspect'?")


# ---- through the command line


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _one_error_line(result) -> str:
    """The run failed with exit code 2 and printed exactly one error line, and no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    others = [line for line in result.stderr.splitlines()
              if not line.startswith(("error:", "definitions:", "  "))]  # "  " starts a progress line
    assert others == [], others
    assert result.stdout == ""
    return errors[0][len("error: "):]


AS_OF = dt.date(2026, 9, 30)


@pytest.fixture
def tiny(tmp_path) -> Path:
    b = ExtractBuilder(AS_OF)
    b.person("P1", age=16).event("P1", "knife_possession", days_ago=10, outcome="convicted")
    b.person("P2", age=15).event("P2", "knife_intel", days_ago=3, grade="B2")
    return b.write(tmp_path / "extract")


def test_misspelt_settings_key_through_the_command_line(runner, tmp_path, tiny):
    init_deployment(tmp_path / "force")
    settings = tmp_path / "force" / "config" / "hkc.toml"
    settings.write_text(settings.read_text().replace("size = 50", "sise = 50"))
    line = _one_error_line(runner.invoke(main, ["validate", str(tiny), "--config", str(settings)]))
    assert line == f"unknown key 'sise' in {settings} [cohort]; did you mean 'size'?"


def test_misspelt_catalogue_key_through_the_command_line(runner, tmp_path, tiny):
    init_deployment(tmp_path / "force")
    catalogue = tmp_path / "force" / "features" / "indicators.toml"
    catalogue.write_text(catalogue.read_text().replace("frequency_cap =", "frequency_cp =", 1))
    line = _one_error_line(runner.invoke(main, ["refresh", str(tiny), "--as-of", "2026-09-30", "--out",
                                                str(tmp_path / "out"), "--config",
                                                str(tmp_path / "force" / "config" / "hkc.toml")]))
    assert line.startswith(f"unknown key 'frequency_cp' in {catalogue} [types.")
    assert line.endswith("did you mean 'frequency_cap'?")
    assert not (tmp_path / "out").exists()


def test_audit_spec_out_of_range_through_the_command_line(runner, tmp_path):
    scored = tmp_path / "scored.csv"
    scored.write_text("score,group\n1,a\n2,b\n")
    spec = _edited(tmp_path, KINDS["audit spec"], "confidence = 0.95", "confidence = 95")
    line = _one_error_line(runner.invoke(main, ["audit", "--input", str(scored), "--score", "score",
                                                "--threshold", "1", "--by", "group", "--out", str(tmp_path / "a"),
                                                "--spec", str(spec)]))
    assert line == f"{spec} [bootstrap] confidence = 95.0: must be at most 0.999 (allowed: 0.5 to 0.999)"


# --------------------------------------------------------------------------------------------
# The extract


def _parquet(folder: Path) -> Path:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    for name in ("people", "events"):
        pq.write_table(pacsv.read_csv(folder / f"{name}.csv"), folder / f"{name}.parquet")
        (folder / f"{name}.csv").unlink()
    return folder


def _cut_parquet(folder: Path) -> str:
    path = _parquet(folder) / "events.parquet"
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return FILE_ERRORS["truncated_parquet"].format(file="events.parquet")


def _delimited(delimiter: str, label: str, name: str = "events") -> Callable[[Path], str]:
    def damage(folder: Path) -> str:
        path = folder / f"{name}.csv"
        path.write_text(path.read_text().replace(",", delimiter))
        column = "event_id" if name == "events" else "person_id"
        return FILE_ERRORS["wrong_delimiter"].format(file=path.name, column=column, delimiter=label)
    return damage


def _encoded(encoding: str) -> Callable[[Path], str]:
    def damage(folder: Path) -> str:
        path = folder / "events.csv"
        path.write_bytes(path.read_text().encode(encoding))
        return FILE_ERRORS["utf16"].format(file="events.csv")
    return damage


def _single_byte(encoding: str, text: str, byte: str) -> Callable[[Path], str]:
    def damage(folder: Path) -> str:
        path = folder / "people.csv"
        lines = path.read_text().splitlines(keepends=True)
        lines[2] = lines[2].replace("P2", f"P2{text}")
        path.write_bytes("".join(lines).encode(encoding))
        return FILE_ERRORS["not_utf8"].format(file="people.csv", line=3, byte=byte)
    return damage


def _empty(folder: Path) -> str:
    for path in folder.iterdir():
        path.unlink()
    return FILE_ERRORS["empty_folder"].format(folder=folder,
                                              expected="people.csv, people.parquet, events.csv, events.parquet")


def _garbage(folder: Path) -> str:
    """Twenty thousand rows with every field invalid (benchmarks/garbage.py does a gigabyte)."""
    with (folder / "events.csv").open("a") as fh:
        fh.writelines(f",,{i:x},t{i},boss,s,o,Z9,,\n" for i in range(20_000))
    return FILE_ERRORS["mostly_rejected"].format(
        file="events.csv", rejected="9,998", scope="first 10,000", rule="missing_value", where=" in column 'event_id'",
        times="9,998", row=4, message=RULES["missing_value"])


def _excel(folder: Path) -> str:
    (folder / "events.csv").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    return FILE_ERRORS["not_csv"].format(file="events.csv", kind="an Excel workbook or another zip file",
                                         advice="in Excel: Save As, 'CSV UTF-8'")


def _stray_quote(folder: Path) -> str:
    path = folder / "events.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace(",offender,", ',"offender,')
    path.write_text("".join(lines))
    return FILE_ERRORS["unclosed_quote"].format(file="events.csv", line=2, last=len(lines))


def _nul(folder: Path) -> str:
    path = folder / "events.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(",police,", ",pol\0ice,")
    path.write_text("".join(lines))
    return FILE_ERRORS["nul_byte"].format(file="events.csv", line=3)


def _fifo_population(folder: Path) -> str:
    os.mkfifo(folder / "population.csv")
    return FILE_ERRORS["not_regular"].format(folder=folder, file="population.csv", kind="a named pipe (FIFO)",
                                             name="population")


BROKEN = {
    "parquet cut in half": _cut_parquet,
    "semicolons": _delimited(";", "';'"),
    "tabs": _delimited("\t", "tab"),
    "people with semicolons": _delimited(";", "';'", "people"),
    "utf-16": _encoded("utf-16"),
    "utf-16 without a byte-order mark": _encoded("utf-16-le"),
    "latin-1": _single_byte("latin-1", "é", "e9"),
    "windows-1252 quotes": _single_byte("cp1252", "\u201c", "93"),
    "empty folder": _empty,
    "a file of garbage": _garbage,
    "a workbook named .csv": _excel,
    "a stray quote": _stray_quote,
    "a NUL byte": _nul,
    "a population FIFO": _fifo_population,
}


@pytest.mark.parametrize("command", ["validate", "refresh"])
@pytest.mark.parametrize("case", BROKEN)
def test_broken_extract_is_one_line_and_exit_code_2(runner, tmp_path, tiny, case, command):
    expected = BROKEN[case](tiny)
    args = [command, str(tiny)]
    if command == "refresh":
        args += ["--as-of", "2026-09-30", "--out", str(tmp_path / "out"), "--db", f"sqlite:///{tmp_path / 'h.db'}"]
    assert _one_error_line(runner.invoke(main, args)) == expected
    assert not (tmp_path / "out").exists()
