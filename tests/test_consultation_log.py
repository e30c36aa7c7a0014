"""The consultation log (issue #15): nobody reads a person's record without saying why, and it is written down."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import main
from hkc.history import consultation_log, open_store, purge
from hkc.history.subject_access import subject_access
from tests.test_history_store import AS_OF, save


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    save(open_store(url))  # people P000000..P000003 as of AS_OF
    return url


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("command", ["explain", "sar"])
def test_explain_and_sar_without_a_purpose_are_refused_in_one_line_and_log_nothing(db, command):
    result = run(command, "P000000", "--db", db)
    assert result.exit_code == 2
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: say why you are consulting this record: --purpose, one of 'case review'")
    assert consultation_log(open_store(db)).empty


def test_an_unknown_purpose_names_the_allowed_ones_and_the_closest(db):
    result = run("explain", "P000000", "--purpose", "case reveiw", "--db", db)
    assert result.exit_code == 2
    assert "did you mean 'case review'?" in result.output and "[consultation] purposes" in result.output
    assert consultation_log(open_store(db)).empty


def test_explain_logs_who_when_whom_why_and_which_run_but_never_what_was_shown(db):
    result = run("explain", "P000000", "--purpose", "Case  Review", "--by", "A. Analyst", "--db", db)
    assert result.exit_code == 0, result.output
    log = consultation_log(open_store(db))
    assert len(log) == 1
    row = log.iloc[0]
    assert (row["person_id"], row["action"], row["purpose"], row["consulted_by"], row["run_as_of"]) == \
        ("P000000", "explain", "case review", "A. Analyst", AS_OF.isoformat())
    assert set(log.columns) == {"consultation_id", "consulted_at", "consulted_by", "person_id", "action", "purpose",
                                "run_as_of"}  # ids, purposes and times only


def test_a_subject_access_answer_lists_its_own_consultation_and_is_logged_as_a_disclosure_to_the_person(db, tmp_path):
    run("explain", "P000000", "--purpose", "case review", "--by", "A. Analyst", "--db", db)
    out = tmp_path / "answer.md"
    result = run("sar", "P000000", "--purpose", "subject access request", "--by", "DPO", "--db", db, "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "## Who consulted this record" in text and "A. Analyst" in text and "subject access request" in text
    store = open_store(db)
    answers = [d for d in subject_access(store, "P000000")["disclosures"] if d["audience"] == "subject"]
    assert len(answers) == 1 and answers[0]["by"] == "DPO"
    import hashlib
    assert answers[0]["files"] == {"answer.md": hashlib.sha256(text.encode()).hexdigest()}


def test_hkc_log_reads_the_log_back_by_person_and_by_consulter(db):
    run("explain", "P000000", "--purpose", "case review", "--by", "A", "--db", db)
    run("explain", "P000001", "--purpose", "audit", "--by", "B", "--db", db)
    run("sar", "P000000", "--purpose", "subject access request", "--by", "B", "--db", db, "--json")
    by_person = json.loads(run("log", "--person", "P000000", "--db", db, "--json").stdout)
    assert [(r["action"], r["consulted_by"]) for r in by_person] == [("explain", "A"), ("sar", "B")]
    by_name = json.loads(run("log", "--by", "B", "--db", db, "--json").stdout)
    assert {r["person_id"] for r in by_name} == {"P000000", "P000001"}
    table = run("log", "--db", db).stdout
    assert "purpose" in table and table.count("P00000") == 3


def test_purge_erases_consultations_older_than_the_cut_off(db):
    import datetime as dt

    from hkc.history import log_consultation

    store = open_store(db)
    log_consultation(store, person_id="P000000", action="explain", purpose="audit", by="A",
                     when=dt.datetime(2023, 1, 1, tzinfo=dt.UTC))
    log_consultation(store, person_id="P000000", action="explain", purpose="audit", by="A")
    result = purge(store, older_than_days=730, today=dt.date.today(), by="records officer")
    assert result["rows"]["consultations"] == 1 and len(consultation_log(store)) == 1
