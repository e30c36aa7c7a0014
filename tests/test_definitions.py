"""The definitions: every key documented, unknown keys named with the closest match, lookup order."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from hkc.definitions.catalogue import Indicator, load_catalogue
from hkc.definitions.deployment import (
    DEFINITION_FOLDERS,
    init_deployment,
    load_definitions,
    packaged_defaults,
    resolve_database_url,
)
from hkc.definitions.settings import (
    GRADE_PROBLEMS,
    CohortSettings,
    DatabaseSettings,
    DataSettings,
    EligibilitySettings,
    ModelSettings,
    OutcomeSettings,
    OutputSettings,
    PartnerSettings,
    PeerSettings,
    PlaceSettings,
    RagSettings,
    RetentionSettings,
    Settings,
    TrackingSettings,
    VulnerabilitySettings,
    load_settings,
)
from hkc.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SETTINGS_FILE = ROOT / "config" / "hkc.toml"
CATALOGUE_FILE = ROOT / "features" / "indicators.toml"


@pytest.mark.parametrize("cls", [Indicator, Settings, DataSettings, DatabaseSettings, EligibilitySettings,
                                 CohortSettings, RagSettings, VulnerabilitySettings, OutputSettings,
                                 OutcomeSettings, TrackingSettings, PeerSettings, PlaceSettings,
                                 PartnerSettings, RetentionSettings, ModelSettings])
def test_every_definition_key_is_documented(cls):
    for f in dataclasses.fields(cls):
        assert f.metadata.get("doc"), f"{cls.__name__}.{f.name} has no doc"


def test_shipped_settings_set_every_key_explicitly():
    data = tomllib.loads(SETTINGS_FILE.read_text())
    for section in dataclasses.fields(Settings):
        if section.name in ("path", "sha256"):
            continue
        keys = {f.name for f in dataclasses.fields(section.default_factory)}
        assert set(data[section.name]) == keys, section.name


def test_shipped_catalogue_loads_with_every_contract_type():
    catalogue = load_catalogue(CATALOGUE_FILE)
    expected = {"knife_possession", "knife_violence", "knife_intel", "search_weapon_found", "knife_victim",
                "violence", "robbery", "drug_supply", "missing_episode", "exclusion", "exploitation_concern",
                "ae_assault"}
    assert set(catalogue.codes) == expected
    assert {i.axis for i in catalogue.indicators.values()} == {"risk", "vulnerability"}
    assert all("victim" not in i.roles for i in catalogue.on_axis("risk"))
    outcome = catalogue.outcome_multipliers
    assert outcome["convicted"] > outcome["charged"] > outcome["cautioned"] > outcome["pending"] > outcome["nfa"]


def _edited(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    text = source.read_text()
    assert old in text
    target = tmp_path / source.name
    target.write_text(text.replace(old, new, 1))
    return target


def test_misspelt_catalogue_key_names_file_section_and_closest_key(tmp_path):
    path = _edited(tmp_path, CATALOGUE_FILE, "half_life_days = 270", "half_lif_days = 270")
    with pytest.raises(ConfigError) as err:
        load_catalogue(path)
    assert str(err.value) == (f"unknown key 'half_lif_days' in {path} [types.knife_possession]; "
                              f"did you mean 'half_life_days'?")


def test_misspelt_settings_section_is_an_error(tmp_path):
    path = _edited(tmp_path, SETTINGS_FILE, "[cohort]", "[cohrot]")
    with pytest.raises(ConfigError, match=r"unknown key 'cohrot' .* did you mean 'cohort'\?"):
        load_settings(path)


@pytest.mark.parametrize(("old", "new", "message"), [
    ('method = "threshold_capped"', 'method = "threshold-capped"',
     "must be one of 'threshold_capped', 'top_n', 'threshold'; did you mean 'threshold_capped'?"),
    ("size = 50", "size = 0", "must be at least 1"),
    ("size = 50", 'size = "fifty"', "must be a whole number"),
    ("red_share = 0.2", "red_share = 1.5", "must be at most 1"),
    ("min_age = 10", "min_age = 30", "min_age 30 is above max_age 17"),
    ("min_intelligence_reports = 2", "min_intelligence_reports = 1", "must be at least 2"),
    ('usable_grade = "D3"', 'usable_grade = "D"', GRADE_PROBLEMS["format"]),
    ('usable_grade = "D3"', 'usable_grade = "E3"', GRADE_PROBLEMS["never"]),
    ('usable_grade = "D3"', 'usable_grade = "B4"', GRADE_PROBLEMS["never"]),
    ('credible_grade = "C3"', 'credible_grade = "c3"', GRADE_PROBLEMS["format"]),
    ('usable_grade = "D3"', 'usable_grade = "B3"', GRADE_PROBLEMS["order"].format(usable="B3")),
    ("allow_police_generated_only = false", "allow_police_generated_only = 1", "must be true or false"),
    ('non_qualifying_outcomes = ["nfa"]', 'non_qualifying_outcomes = ["acquitted"]', "unknown outcome 'acquitted'"),
])
def test_bad_setting_values_name_the_allowed_range(tmp_path, old, new, message):
    path = _edited(tmp_path, SETTINGS_FILE, old, new)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_victim_role_on_risk_axis_is_refused(tmp_path):
    path = _edited(tmp_path, CATALOGUE_FILE, 'roles = ["offender", "suspect"]', 'roles = ["offender", "victim"]')
    with pytest.raises(ConfigError, match="a victim or witness role never counts on the risk axis"):
        load_catalogue(path)


def test_invalid_toml_is_one_line_error(tmp_path):
    path = tmp_path / "hkc.toml"
    path.write_text("[cohort\nsize = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_init_copies_definitions_and_refuses_to_overwrite(tmp_path):
    written = init_deployment(tmp_path / "force")
    assert {p.name for p in written} == set(DEFINITION_FOLDERS)
    assert (tmp_path / "force" / "config" / "hkc.toml").read_text() == SETTINGS_FILE.read_text()
    with pytest.raises(ConfigError, match="already exists"):
        init_deployment(tmp_path / "force")


def test_deployment_folder_in_cwd_takes_precedence_over_defaults(tmp_path):
    init_deployment(tmp_path)
    (tmp_path / "config" / "hkc.toml").write_text(SETTINGS_FILE.read_text().replace("size = 50", "size = 7"))
    defs = load_definitions(cwd=tmp_path)
    assert defs.source == "deployment folder"
    assert defs.settings.cohort.size == 7
    elsewhere = load_definitions(cwd=tmp_path / "config")
    assert elsewhere.source == "packaged defaults"
    assert elsewhere.settings.cohort.size == 50


def test_config_option_uses_that_folders_catalogue(tmp_path):
    init_deployment(tmp_path)
    catalogue = tmp_path / "features" / "indicators.toml"
    catalogue.write_text(catalogue.read_text().replace('version = "', 'version = "local-'))
    defs = load_definitions(config=tmp_path / "config" / "hkc.toml", cwd=ROOT)
    assert defs.catalogue.version.startswith("local-")
    assert defs.root == tmp_path.resolve()


def test_packaged_defaults_exist():
    assert (packaged_defaults() / "features" / "indicators.toml").is_file()


def test_relative_sqlite_url_resolves_under_the_deployment_folder(tmp_path):
    assert resolve_database_url("sqlite:///h.db", tmp_path) == f"sqlite:///{tmp_path.resolve() / 'h.db'}"
    assert resolve_database_url("sqlite:////abs/h.db", tmp_path) == "sqlite:////abs/h.db"
    assert resolve_database_url("postgresql://u@h/db", tmp_path) == "postgresql://u@h/db"


def test_with_the_packaged_defaults_the_history_is_in_hkcs_data_folder_whatever_the_current_folder(tmp_path,
                                                                                                 monkeypatch):
    """A refresh run from another folder finds the same history: relative paths never resolve in the current
    folder — in hkc's data folder ($HKC_HOME, else $XDG_DATA_HOME/hkc) for the packaged defaults, in the
    deployment folder for a deployment."""
    from hkc.definitions import init_deployment, load_definitions

    monkeypatch.setenv("HKC_HOME", str(tmp_path / "home"))
    urls = {load_definitions(cwd=tmp_path / name).database_url() for name in ("a", "b")}
    assert urls == {f"sqlite:///{(tmp_path / 'home' / 'hkc-history.db').resolve()}"}
    monkeypatch.delenv("HKC_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert load_definitions(cwd=tmp_path / "a").database_url() == \
        f"sqlite:///{(tmp_path / 'xdg' / 'hkc' / 'hkc-history.db').resolve()}"
    init_deployment(tmp_path / "force")
    assert load_definitions(cwd=tmp_path / "force").database_url() == \
        f"sqlite:///{(tmp_path / 'force' / 'hkc-history.db').resolve()}"
