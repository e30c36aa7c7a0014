"""One person's rights (issue #15, part 1): a challenge that needs an outcome, and a wrong event kept out of scoring."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from cli import main
from hkc.errors import HkcError
from hkc.history import exclude_event, open_store, raise_challenge, resolve_challenge
from hkc.history.subject_access import render_subject_access, subject_access
from hkc.refresh import run_refresh
from tests.builders import ExtractBuilder, offline_definitions

AS_OF = dt.date(2026, 9, 30)


@pytest.fixture
def force(tmp_path):
    """Two children each listed on one possession conviction; one of them is wrong (E-WRONG)."""
    b = ExtractBuilder(AS_OF)
    b.person("A").person("B").person("C")
    b.event("A", "knife_possession", days_ago=40, outcome="convicted", event_id="E-WRONG")
    b.event("B", "knife_possession", days_ago=50, outcome="convicted", event_id="E-B")
    b.event("C", "knife_victim", days_ago=20, event_id="E-C")
    extract = b.write(tmp_path / "extract")
    url = f"sqlite:///{tmp_path / 'h.db'}"
    return extract, url, tmp_path


def refresh(force, name: str):
    extract, url, tmp = force
    return run_refresh(extract, as_of=AS_OF, out=tmp / name, definitions=offline_definitions(), db_url=url,
                       partner_pack="no", extract_date=AS_OF)


def cli(*args):
    return CliRunner().invoke(main, list(args))


def test_a_rectified_event_counts_nowhere_from_the_next_refresh_until_the_exclusion_is_lifted(force):
    first = refresh(force, "q1")
    assert set(first.members["person_id"]) == {"A", "B"}
    url = force[1]
    result = cli("person", "rectify", "A", "--event", "E-WRONG", "--reason", "the conviction was quashed on appeal",
                 "--by", "records officer", "--db", url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "excluded"
    explained = cli("explain", "A", "--purpose", "challenge or correction", "--run", "2026-09-30", "--db", url)
    assert "event E-WRONG shown to be wrong (the conviction was quashed on appeal" in explained.stdout
    assert "excluded from scoring" in explained.stdout
    second = refresh(force, "q2")
    assert set(second.members["person_id"]) == {"B"}
    assert json.loads((second.out / "run.json").read_text())["excluded_events"] == 1
    assert "E-WRONG" not in set(pd.read_parquet(second.out / "evidence.parquet")["event_id"])
    text = render_subject_access(subject_access(open_store(url), "A"))
    assert "## Challenges and corrections" in text and "E-WRONG" in text
    lifted = cli("person", "rectify", "A", "--event", "E-WRONG", "--lift", "--reason", "appeal overturned",
                 "--by", "records officer", "--db", url)
    assert lifted.exit_code == 0, lifted.output
    third = refresh(force, "q3")
    assert set(third.members["person_id"]) == {"A", "B"}
    assert json.loads((third.out / "run.json").read_text())["excluded_events"] == 0


def test_rectify_refuses_an_event_that_is_not_in_the_persons_evidence_or_already_excluded(force):
    refresh(force, "q1")
    store = open_store(force[1])
    with pytest.raises(HkcError, match="not in the stored evidence of person 'A'"):
        exclude_event(store, "A", event_id="E-B", reason="wrong person", by="x")
    exclude_event(store, "A", event_id="E-WRONG", reason="wrong", by="x")
    with pytest.raises(HkcError, match="already excluded"):
        exclude_event(store, "A", event_id="E-WRONG", reason="wrong", by="x")
    with pytest.raises(HkcError, match="not in any stored run"):
        exclude_event(store, "NOBODY", event_id="E-WRONG", reason="wrong", by="x")


def test_a_challenge_marks_the_person_in_the_next_list_until_its_outcome_is_recorded(force):
    refresh(force, "q1")
    url = force[1]
    raised = cli("person", "challenge", "B", "--reason", "says the knife was a work tool", "--by", "solicitor",
                 "--db", url)
    assert raised.exit_code == 0, raised.output
    again = cli("person", "challenge", "B", "--reason", "again", "--by", "solicitor", "--db", url)
    assert again.exit_code == 2 and "already has an open challenge" in again.output
    listed = pd.read_csv(refresh(force, "q2").out / "cohort.csv").set_index("person_id")
    assert bool(listed.loc["B", "under_challenge"]) and not bool(listed.loc["A", "under_challenge"])
    resolved = cli("person", "resolve", "B", "--outcome", "rejected", "--note", "tool argument not supported",
                   "--by", "panel chair", "--db", url, "--json")
    assert resolved.exit_code == 0 and json.loads(resolved.stdout)["status"] == "rejected"
    listed = pd.read_csv(refresh(force, "q3").out / "cohort.csv").set_index("person_id")
    assert not bool(listed.loc["B", "under_challenge"])
    answer = subject_access(open_store(url), "B")
    assert [c["outcome"] for c in answer["challenges"]] == ["rejected"]
    assert "says the knife was a work tool" in render_subject_access(answer)


def test_a_challenge_needs_words_a_known_person_and_an_open_challenge_to_resolve(force):
    refresh(force, "q1")
    store = open_store(force[1])
    with pytest.raises(HkcError, match="--reason is required"):
        raise_challenge(store, "B", reason="  ", by="x")
    with pytest.raises(HkcError, match="not in any stored run"):
        raise_challenge(store, "NOBODY", reason="r", by="x")
    with pytest.raises(HkcError, match="no open challenge"):
        resolve_challenge(store, "B", outcome="upheld", note="n", by="x")
    with pytest.raises(HkcError, match="not one of upheld, rejected, withdrawn"):
        resolve_challenge(store, "B", outcome="maybe", note="n", by="x")
