"""Tests for `hkc dpia`: the DPIA under the DPA 2018 s.64(3) headings, the equality impact note and ALGO-CARE.

The demo-like history of tests/test_transparency.py (``demo_history``, session scope) is reused; the
equality note is also checked on audits with a planted disparity and without one.
"""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cli import main
from hkc.audit.groups import audit_selection
from hkc.definitions.audit_spec import AuditSpec
from hkc.history import open_store
from hkc.transparency import (
    FOR_THE_PARTNERSHIP,
    NO_RUN,
    Facts,
    check_json,
    dpia_document,
    markdown_text,
    to_json,
    to_markdown,
)
from hkc.transparency.algocare import ITEMS
from hkc.transparency.dpia import RISKS
from hkc.transparency.equality import CHARACTERISTICS, NOT_HELD
from tests.test_transparency import NOT_FILLED, QUARTERS, block_texts, demo_facts, fields_of
from tests.test_transparency import demo_history as demo_history  # noqa: F401 - a fixture, shared

# What only the partnership can answer in the DPIA, the equality note and the checklist.
ASKED_ONLY = {"0.1", "0.3", "0.4", "1.9", "3.2", "5.1", "5.2", "5.3", "E.7", "C.L.1", "C.R.3"}


def dpia(h, **changes) -> dict:
    return to_json(dpia_document(demo_facts(h, **changes)))


def test_the_assessment_has_the_s64_headings_the_equality_note_and_every_algocare_item(demo_history):
    document = dpia(demo_history)
    titles = [s["title"] for s in document["sections"]]
    for part in ("(a)", "(b)", "(c)", "(d)"):
        assert sum(f"s.64(3){part}" in t for t in titles) == 1, part
    assert any(t.startswith("Equality impact note") for t in titles)
    checklist = next(s for s in document["sections"] if s["ref"] == "C")
    for item in ITEMS:
        assert any(f["name"].startswith(f"{item}:") for f in checklist["fields"]), item
    risks = next(s for s in document["sections"] if s["ref"] == "2")
    assert [f["name"].split(":")[0] for f in risks["fields"]] == list(RISKS)
    assert all(f["for_the_partnership"] for f in risks["fields"])  # likelihood and severity are the controller's


def test_every_field_hkc_knows_is_filled_for_a_demo_like_run(demo_history):
    document = dpia(demo_history)
    fields = fields_of(document)
    assert {ref for ref, f in fields.items() if f["filled_by"] == "partnership"} == ASKED_ONLY
    for ref, f in fields.items():
        if f["filled_by"] == "partnership":
            continue
        texts = block_texts(f)
        assert texts and all(t.strip() for t in texts), ref
        assert not [t for t in texts if NOT_FILLED.search(t)], (ref, [t for t in texts if NOT_FILLED.search(t)])
    assert check_json(document) == []
    markdown = to_markdown(dpia_document(demo_facts(demo_history)))
    assert "to be completed" not in markdown.lower()
    for f in fields.values():
        if f["for_the_partnership"]:
            assert f"**{FOR_THE_PARTNERSHIP}:** {markdown_text(f['for_the_partnership'])}" in markdown


def test_the_risks_carry_what_the_history_and_the_run_hold(demo_history):
    store = open_store(demo_history.url, create=False)
    latest = store.find_run()
    manifest = store.manifest(latest.run_id)
    fields = fields_of(dpia(demo_history))

    def text(ref: str) -> str:
        return " ".join(block_texts(fields[ref]))

    no_risk = int((store.person_scores(latest.run_id)["risk_score"] == 0).sum())  # counted a second way
    assert f"keeps rows for {no_risk:,} people with no risk score at all" in text("2.3")
    pooled = manifest["chance"]["pooled"]
    assert f"Of {pooled['listed']:,} listings" in text("2.9") and f"{pooled['hits']:,} (" in text("2.9")
    assert f"{pooled['listed'] - pooled['hits']:,} ({1 - pooled['hits'] / pooled['listed']:.0%}) were not" in text("2.9")
    assert manifest["audit"]["summary"] in text("2.2")
    assert f"Retention period: {demo_history.definitions.settings.retention.days:,} days" in text("1.6")
    assert ["listed", str(manifest["cohort_size"])] in fields["1.2"]["value"][0]["table"]["rows"]
    assert "3 recorded decisions from 1 meeting" in text("C.A.1")
    assert "(1 logged)" in text("4.2")  # the consultation the fixture recorded
    assert "records officer" in text("1.5")  # the assessment, unlike the published record, names who ran it


def _planted(gap: bool) -> dict:
    """A scored population, sex exactly balanced within every group; with ``gap``, Black people are
    selected at 40% and White at 10%, otherwise both at 20%."""
    rows = []
    for ethnicity, n, rate in (("White", 400, 0.10 if gap else 0.2), ("Black", 200, 0.40 if gap else 0.2)):
        selected = round(n * rate)
        for i in range(n):
            rows.append({"ethnicity": ethnicity, "sex": "FM"[i % 2], "in_cohort": i < selected})
    frame = pd.DataFrame(rows)
    frame = frame.assign(risk_score=np.where(frame["in_cohort"], 70.0, 10.0))
    spec = AuditSpec()
    spec = dataclasses.replace(spec, bootstrap=dataclasses.replace(spec.bootstrap, resamples=200, seed=3))
    return audit_selection(frame, selected="in_cohort", by=["ethnicity", "sex"], score="risk_score", spec=spec,
                           selection_label="in the cohort")


@pytest.mark.parametrize("gap", [True, False])
def test_the_equality_note_reports_a_planted_disparity_and_only_then(demo_history, gap):
    audit = _planted(gap)
    document = to_json(dpia_document(Facts(definitions=demo_history.definitions, audit_spec=demo_history.spec,
                                           audit=audit)))
    table = fields_of(document)["E.2"]["value"][0]["table"]
    rows = {r[0]: r for r in table["rows"]}
    assert set(rows) == set(CHARACTERISTICS)
    ethnic = [f for f in audit["flags"] if "ethnicity" in f["attribute"]]  # counted a second way
    assert bool(ethnic) is gap
    if gap:
        assert rows["race"][2].startswith(f"{len(ethnic)} of the latest audit's flags involve it")
        assert any("Black" in t for t in block_texts(fields_of(document)["E.3"]))
    else:
        assert rows["race"][2].startswith("The latest audit raised no flag involving it")
    assert not [f for f in audit["flags"] if f["attribute"] == "sex"]  # sex is balanced in both
    for held_not in ("disability", "religion or belief", "sexual orientation"):
        assert rows[held_not][1:] == ["not held", NOT_HELD]
    assert rows["age"][1].startswith("date of birth")


def test_without_a_run_the_assessment_says_so_and_still_keeps_to_the_schema(demo_history):
    facts = Facts(definitions=demo_history.definitions, audit_spec=demo_history.spec)
    document = to_json(dpia_document(facts))
    assert check_json(document) == []
    assert NO_RUN in block_texts(fields_of(document)["1.2"])


def test_no_person_identifier_reaches_the_assessment(demo_history):
    facts = demo_facts(demo_history)
    texts = to_markdown(dpia_document(facts)) + json.dumps(to_json(dpia_document(facts)))
    assert not set(re.findall(r"\bP\d{4,}\b", texts)) & demo_history.people
    assert "HKC-" not in texts and "DEMO-" not in texts


def test_the_command_writes_the_assessment(demo_history, tmp_path):
    runner = CliRunner()
    common = ["--db", demo_history.url, "--config", str(demo_history.config)]
    result = runner.invoke(main, ["dpia", *common, "--out", str(tmp_path / "dpia.md")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "dpia.md").read_text()
    assert text.startswith("# Data protection impact assessment (draft)")
    assert f"the run as of {QUARTERS[-1]}" in text
    again = runner.invoke(main, ["dpia", *common, "--out", str(tmp_path / "dpia.md")])
    assert again.exit_code == 2
    forced = runner.invoke(main, ["dpia", *common, "--out", str(tmp_path / "dpia.md"), "--force", "--json"])
    assert forced.exit_code == 0 and check_json(json.loads((tmp_path / "dpia.md").read_text())) == []
