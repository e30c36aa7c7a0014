"""The command line: one-line errors with exit code 2, summaries, and the installed command."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from tests.builders import ExtractBuilder

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 9, 30)


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def tiny(tmp_path) -> Path:
    b = ExtractBuilder(AS_OF)
    b.person("P1", age=16).event("P1", "knife_possession", days_ago=10, outcome="convicted") \
        .event("P1", "knife_violence", days_ago=30, outcome="charged")
    b.person("P2", age=15).event("P2", "knife_intel", days_ago=3, grade="B2") \
        .event("P2", "knife_intel", days_ago=50, grade="B3")
    b.person("P3", age=14).event("P3", "knife_victim", days_ago=5)
    return b.write(tmp_path / "extract")


@pytest.fixture
def offline_config(tmp_path) -> Path:
    """A deployment folder whose settings switch MLflow tracking off."""
    from hkc.definitions.deployment import init_deployment

    init_deployment(tmp_path / "force")
    settings = tmp_path / "force" / "config" / "hkc.toml"
    settings.write_text(settings.read_text().replace("enabled = true", "enabled = false"))
    return settings


def invoke(runner, *args):
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_every_command_has_help_and_appears_in_the_readme(runner):
    readme = (ROOT / "README.md").read_text()
    for name, command in main.commands.items():
        assert command.help, name
        assert f"hkc {name}" in readme, f"`hkc {name}` is not documented in README.md"
        assert invoke(runner, name, "--help").exit_code == 0


def test_validate_missing_events_file_exits_2_with_one_line(runner, tiny):
    (tiny / "events.csv").unlink()
    result = invoke(runner, "validate", tiny)
    assert result.exit_code == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error_lines == [f"error: {tiny}: events file not found; expected events.csv or events.parquet"]
    assert "Traceback" not in result.output


def test_validate_missing_column_names_file_and_column(runner, tiny):
    text = (tiny / "people.csv").read_text().replace("date_of_birth", "dob")
    (tiny / "people.csv").write_text(text)
    result = invoke(runner, "validate", tiny)
    assert result.exit_code == 2
    assert "error: people.csv: missing required column 'date_of_birth'" in result.stderr


def test_debug_flag_shows_the_traceback(runner, tiny):
    (tiny / "events.csv").unlink()
    with pytest.raises(Exception, match="events file not found"):
        runner.invoke(main, ["--debug", "validate", str(tiny)], catch_exceptions=False)


def test_validate_prints_reconciled_counts_and_writes_rejects(runner, tiny, tmp_path):
    with (tiny / "events.csv").open("a") as fh:
        fh.write("E99,P404,2026-01-01,knife_possession,offender,police,convicted,,,\n")
    result = invoke(runner, "validate", tiny, "--out", tmp_path / "checks", "--extract-date", "2026-09-30")
    assert result.exit_code == 0
    assert re.search(r"events\.csv\s+6\s+5\s+1\s+yes", result.output)
    assert "events.csv row 7, column 'person_id': person_id 'P404' is not in people" in result.output
    assert (tmp_path / "checks" / "rejects.csv").read_text().splitlines()[0] == "file,row,column,value,rule,message"


def test_refresh_history_explain_and_movement(runner, tiny, tmp_path, offline_config):
    with (tiny / "events.csv").open("a") as fh:  # evidence before the first quarter, so both can be scored
        fh.write("E90,P1,2026-06-02,knife_possession,offender,police,convicted,,,\n")
        # P2's intelligence is police-generated and lists nobody alone; a charged possession on 1 August
        # (32 x 0.5^(60/270) = 27.4, over the minimum 25) lists P2 at Q3: an entry in the movement
        fh.write("E91,P2,2026-08-01,knife_possession,offender,police,charged,,,\n")
    db = f"sqlite:///{tmp_path / 'h.db'}"
    first = invoke(runner, "refresh", tiny, "--as-of", "2026-06-30", "--out", tmp_path / "q2", "--db", db,
                   "--extract-date", "2026-09-30", "--config", offline_config)
    assert first.exit_code == 0, first.output
    second = invoke(runner, "refresh", tiny, "--as-of", "2026-09-30", "--out", tmp_path / "q3", "--db", db,
                    "--extract-date", "2026-09-30", "--config", offline_config)
    assert second.exit_code == 0
    assert "2 listed" in second.output and "open cohort.html first" in second.output
    assert "definitions:" in second.stderr
    history = invoke(runner, "history", "--db", db)
    assert "2026-06-30" in history.output and "2026-09-30" in history.output
    explained = invoke(runner, "explain", "P1", "--purpose", "case review", "--db", db)
    assert "knife_possession" in explained.output and "convicted" in explained.output
    moved = invoke(runner, "movement", "--from", "2026Q2", "--to", "2026Q3", "--db", db)
    assert moved.exit_code == 0
    assert "entries: 1; exits: 0" in moved.output and re.search(r"^P2\s+2\s", moved.output, re.MULTILINE)
    assert "share of the earlier cohort whose RAG reduced or who were removed" in moved.output


def test_transparency_record_from_the_latest_stored_run(runner, tiny, tmp_path, offline_config):
    db = f"sqlite:///{tmp_path / 'h.db'}"
    invoke(runner, "refresh", tiny, "--as-of", "2026-09-30", "--out", tmp_path / "q3", "--db", db,
           "--config", offline_config)
    result = invoke(runner, "transparency", "--db", db, "--out", tmp_path / "record.md", "--config", offline_config)
    assert result.exit_code == 0, result.output
    text = (tmp_path / "record.md").read_text()
    assert text.startswith("# Algorithmic transparency record")
    assert "2026-09-30" in text and "possession of a bladed article" in text
    assert not re.search(r"\bP[123]\b", text)  # no person identifiers in a record meant for publication


def test_explain_unknown_run_is_a_clear_error(runner, tiny, tmp_path, offline_config):
    db = f"sqlite:///{tmp_path / 'h.db'}"
    invoke(runner, "refresh", tiny, "--as-of", "2026-09-30", "--out", tmp_path / "q3", "--db", db,
           "--config", offline_config)
    result = invoke(runner, "explain", "P1", "--run", "2025-01-01", "--purpose", "case review", "--db", db)
    assert result.exit_code == 2
    assert "error: no run with as-of date 2025-01-01" in result.stderr


def test_init_then_run_inside_the_deployment_folder(runner, tmp_path, monkeypatch):
    result = invoke(runner, "init", tmp_path / "force")
    assert result.exit_code == 0
    monkeypatch.chdir(tmp_path / "force")
    result = invoke(runner, "history")
    assert "definitions: deployment folder" in result.stderr
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"error: no history database at {tmp_path.resolve() / 'force' / 'hkc-history.db'}; "
        "run `hkc refresh` first, or pass --db URL")


def test_installed_command_runs_from_any_folder(tmp_path, tiny):
    exe = shutil.which("hkc")
    assert exe, "the hkc console script is not installed: run the README's install command"
    out = subprocess.run([exe, "validate", str(tiny)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "definitions: packaged defaults" in out.stderr
    missing = subprocess.run([exe, "validate", str(tmp_path / "nope")], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in missing.stderr


COMPAS = ROOT / "tests" / "data" / "compas" / "compas-scores-two-years.csv.gz"  # provenance: its README


def test_audit_command_reproduces_propublica_false_positive_rates(runner, tmp_path):
    import json

    result = invoke(runner, "audit", "--input", COMPAS, "--score", "decile_score", "--threshold", "5",
                    "--outcome", "two_year_recid", "--by", "race", "--by", "sex",
                    "--reference", "race=Caucasian", "--out", tmp_path / "compas")
    assert result.exit_code == 0, result.output
    assert "false positive rate for African-American people was 44.85%" in result.output
    assert "against 23.45%" in result.output
    data = json.loads((tmp_path / "compas" / "audit.json").read_text())
    groups = {g["group"]: g for g in data["attributes"]["race"]["groups"]}
    assert groups["African-American"]["n"] == 3696
    assert round(groups["Caucasian"]["false_positive_rate"], 4) == 0.2345
    assert (tmp_path / "compas" / "audit.html").is_file()


def test_audit_command_needs_exactly_one_selection_rule(runner, tmp_path):
    result = runner.invoke(main, ["audit", "--input", str(COMPAS), "--score", "decile_score", "--by", "race",
                                  "--out", str(tmp_path / "a")])
    assert result.exit_code == 2
    assert "give exactly one of --threshold T or --selected COL" in result.output


def test_audit_command_unknown_column_is_one_line(runner, tmp_path):
    result = invoke(runner, "audit", "--input", COMPAS, "--score", "decile_score", "--threshold", "5",
                    "--by", "rase", "--out", tmp_path / "a")
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "'rase'" in lines[0] and "race" in lines[0]
