"""Tests for the transparency record (hkc/transparency.py)."""

from __future__ import annotations

import copy
import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from hkc.audit.disclosure import suppress_small_cells
from hkc.audit.findings import findings
from hkc.audit.groups import audit_selection
from hkc.definitions.audit_spec import AuditSpec
from hkc.definitions.deployment import load_definitions
from hkc.extract.contract import CONTRACT
from hkc.transparency import (
    COLUMN_USES,
    NO_AUDIT,
    NO_RUN,
    TO_BE_COMPLETED,
    markdown_text,
    transparency_record,
)

HOSTILE = "A|B <script>alert(1)</script> *x*"


@pytest.fixture(scope="module")
def definitions(tmp_path_factory):
    """The shipped definitions (an empty folder as the working directory)."""
    return load_definitions(cwd=tmp_path_factory.mktemp("empty"))


@pytest.fixture(scope="module")
def spec() -> AuditSpec:
    spec = AuditSpec()
    return dataclasses.replace(spec, bootstrap=dataclasses.replace(spec.bootstrap, resamples=300, seed=11))


@pytest.fixture(scope="module")
def scored() -> pd.DataFrame:
    """A scored population with a planted gap: Black people 40% selected, White 10%, a hostile group
    name 20%, and two groups under the small-cell threshold (two, so that no other group has to be
    withheld to protect them)."""
    rows = []
    for ethnicity, n, rate in (("White", 400, 0.10), ("Black", 200, 0.40), (HOSTILE, 100, 0.20), ("Mixed", 6, 0.5),
                              ("Other", 7, 0.3)):
        for i in range(n):
            rows.append({"ethnicity": ethnicity, "sex": "FM"[i % 2], "in_cohort": i < round(n * rate)})
    frame = pd.DataFrame(rows)
    return frame.assign(risk_score=np.where(frame["in_cohort"], 70.0, 10.0) + np.arange(len(frame)) % 7)


@pytest.fixture(scope="module")
def audit(scored, spec) -> dict:
    return audit_selection(scored, selected="in_cohort", by=["ethnicity", "sex"], score="risk_score", spec=spec,
                           selection_label="in the cohort")


@pytest.fixture
def manifest() -> dict:
    return {
        "as_of": "2026-09-30", "extract_date": "2026-10-02",
        "counts": {"people": {"read": 1200, "used": 1195, "rejected": 5},
                   "events": {"read": 10432, "used": 10398, "rejected": 34}},
        "scored": 1195, "eligible": 140, "cohort_size": 50, "removed": 7, "previous_as_of": "2026-06-30",
        "config_sha256": "c" * 64, "inputs_sha256": "d" * 64,
        "inputs": {"people": {"file": "people.csv", "sha256": "e" * 64}},
        "hkc_version": "9.9.9", "git_commit": "abc1234", "definitions": "definitions: packaged defaults (/x)",
        "started_at": "2026-10-03T09:00:00+00:00", "finished_at": "2026-10-03T09:01:00+00:00",
    }


def record(definitions, spec, *, manifest=None, audit=None) -> str:
    return transparency_record(definitions=definitions, manifest=manifest, audit=audit, audit_spec=spec)


def table_row(text: str, first_cell: str) -> list[str]:
    """The cells of the table row whose first cell is ``first_cell`` (as escaped in the record)."""
    for line in text.splitlines():
        cells = unescaped_split(line)
        if len(cells) > 2 and cells[1].strip() == first_cell:
            return [c.strip() for c in cells[1:-1]]
    raise AssertionError(f"no table row starting {first_cell!r}")


def unescaped_split(line: str) -> list[str]:
    return re.split(r"(?<!\\)\|", line)


# --------------------------------------------------------------------------------------------
# Definitions: indicators, rules, data


def test_every_catalogue_indicator_appears_with_its_gravity_and_flags(definitions, spec):
    text = record(definitions, spec)
    for ind in definitions.catalogue.indicators.values():
        cells = table_row(text, markdown_text(ind.code))
        assert cells[1] == markdown_text(ind.label)
        assert cells[2] == ind.axis
        assert cells[4] == f"{ind.gravity:g}"
        assert cells[5:9] == [f"{ind.half_life_days:g}", str(ind.lookback_days), str(ind.frequency_cap),
                              f"{ind.frequency_decay:g}"]
        assert cells[9:] == [ind.evidence] + ["yes" if f else "no" for f in (ind.weapon, ind.intelligence,
                                                                          ind.proactive)]
    assert f"version {definitions.catalogue.version}" in text
    assert definitions.catalogue.sha256 in text


def test_eligibility_cohort_and_band_rules_come_from_the_settings(definitions, spec):
    s = definitions.settings
    changed = dataclasses.replace(s, eligibility=dataclasses.replace(
        s.eligibility, min_age=12, max_age=21, review_window_days=200, min_intelligence_reports=3,
        intelligence_distinct_dates=False, min_risk_score=2.5, non_qualifying_outcomes=("nfa", "pending")),
        cohort=dataclasses.replace(s.cohort, method="threshold", min_score=65.0),
        rag=dataclasses.replace(s.rag, method="quantile", red_share=0.25, amber_share=0.35))
    text = record(dataclasses.replace(definitions, settings=changed), spec)
    assert "aged 12 to 21 (whole years)" in text
    assert "in the last 200 days whose outcome is not one of: nfa, pending" in text
    assert "only with 3 or more weapon intelligence reports in that window graded D3 or better" in text
    assert "a source's reports on one date count once" not in text  # intelligence_distinct_dates=False
    assert "a risk score of at least 2.5." in text
    assert "every eligible person with a risk score of at least 65" in text
    assert "red for the top 25% of the cohort, amber for the next 35%" in text


def test_shipped_eligibility_numbers_match_the_settings(definitions, spec):
    e = definitions.settings.eligibility
    text = record(definitions, spec)
    assert f"aged {e.min_age} to {e.max_age} (whole years)" in text
    c = definitions.settings.cohort
    assert (e.min_age, e.max_age, c.method, c.min_score, c.size) == (10, 17, "threshold_capped", 25, 50)
    assert f"only with {e.min_intelligence_reports} or more weapon intelligence reports in that window graded " \
           f"{e.usable_grade} or better (source A\u2013D, assessment 1\u20133), from different sources or with one " \
           f"graded {e.credible_grade} or better (source A\u2013C, assessment 1\u20133)" in text
    assert "ungraded reports, source E and assessments 4\u20135 never corroborate; a source's reports on one " \
           "date count once" in text
    assert "Police-generated evidence (weapon found in a stop and search, intelligence: carrying a knife) never " \
           "lists anyone alone" in text
    assert f"a risk score of at least {e.min_risk_score:g}." in text
    listed = f"every eligible person with a risk score of at least {c.min_score:g}, at most {c.size} of them"
    assert f"Listed: {listed}, ranked by risk score" in text
    assert f"who meet the eligibility rules, {listed} for review" in text
    assert "highest-ranked" not in text and "different dates" not in text


def test_police_generated_evidence_wording_follows_the_setting(definitions, spec):
    s = definitions.settings
    allowed = dataclasses.replace(s, eligibility=dataclasses.replace(s.eligibility, allow_police_generated_only=True))
    text = record(dataclasses.replace(definitions, settings=allowed), spec)
    assert "never lists anyone alone" not in text
    assert "whose outcome is not one of: nfa, or corroborated intelligence in that window" in text
    assert "on police-generated evidence alone (unless the settings allow it)" in text


def test_every_contract_column_has_a_described_use():
    described = {(name, col.name) for name, cols in CONTRACT.items() if name != "population" for col in cols}
    assert described <= set(COLUMN_USES), sorted(described - set(COLUMN_USES))


def test_protected_characteristics_are_named_as_audit_only(definitions, spec):
    text = record(definitions, spec)
    assert "The audited characteristics (ethnicity, sex) are never inputs to scores" in text
    assert table_row(text, "people")[3].startswith("links a person")  # the first people row: person_id
    for column in ("sex", "ethnicity"):
        row = next(r for r in text.splitlines() if r.startswith(f"| people | {column} |"))
        assert "fairness audit only" in row


def test_partnership_sections_are_marked_not_invented(definitions, spec):
    text = record(definitions, spec)
    for item in ("Senior responsible owner", "Legal basis for processing", "Retention period and deletion",
                 "How a person or family can ask about or challenge an entry", "Data protection impact assessment"):
        assert f"| {item} | **{TO_BE_COMPLETED}** |" in text


# --------------------------------------------------------------------------------------------
# The latest run and its audit


def test_without_a_run_or_audit_the_record_says_so_and_shows_no_figures(definitions, spec):
    text = record(definitions, spec)
    assert markdown_text(NO_RUN) in text
    assert markdown_text(NO_AUDIT) in text
    for figure in ("As-of date", "Rows read", "CI ", "Selection rate", "Configuration SHA-256"):
        assert figure not in text


def test_a_manifest_gives_the_run_provenance(definitions, spec, manifest):
    text = record(definitions, spec, manifest=manifest)
    assert table_row(text, "As-of date")[1] == "2026-09-30"
    assert table_row(text, "Listed (cohort size)")[1] == "50"
    assert table_row(text, "Removed since the previous run")[1] == "7 (previous run as of 2026-06-30)"
    assert "| events | 10,432 | 10,398 | 34 |" in text
    assert table_row(text, "Configuration SHA-256")[1] == "c" * 64
    assert table_row(text, "Inputs SHA-256")[1] == "d" * 64
    assert table_row(text, "hkc version")[1] == "9.9.9"
    assert NO_RUN not in text and "/x" not in text  # the manifest's local paths stay out of a public record


def test_an_audit_gives_its_findings_with_their_intervals(definitions, spec, audit):
    text = record(definitions, spec, audit=audit)
    sentences = findings(suppress_small_cells(audit, threshold=spec.disclosure.small_cell))
    assert any("times (95% CI" in s and "Black people" in s for s in sentences)
    for sentence in sentences:
        assert f"- {markdown_text(sentence)}" in text
    black = table_row(text, "Black")
    assert black[:3] == ["Black", "200", "80"]
    assert re.fullmatch(r"40\.00% \(95% CI [\d.]+%–[\d.]+%\)", black[3])
    assert re.fullmatch(r"4\.00 \(95% CI [\d.]+–[\d.]+\)", black[4])
    assert black[5] == "selection rate"
    assert "ethnicity Black against White: selection rate ratio 4.00 (95% CI" in text
    assert NO_AUDIT not in text


def test_small_groups_are_suppressed_in_the_published_record(definitions, spec, audit):
    text = record(definitions, spec, audit=audit)
    mixed = table_row(text, "Mixed")
    assert mixed[1] == "&lt;10" and mixed[3] == "withheld"
    assert "| Mixed | 6 |" not in text


def test_hostile_group_names_are_escaped_everywhere(definitions, spec, audit):
    text = record(definitions, spec, audit=audit)
    assert "<script>" not in text and "</script>" not in text
    assert markdown_text(HOSTILE) == "A\\|B &lt;script&gt;alert(1)&lt;/script&gt; \\*x\\*"
    cells = table_row(text, markdown_text(HOSTILE))
    assert cells[1:3] == ["100", "20"] and re.fullmatch(r"20\.00% \(95% CI [\d.]+%–[\d.]+%\)", cells[3])
    assert any(markdown_text(HOSTILE) in line for line in text.splitlines() if line.startswith("- "))  # findings
    widths = {}
    for line in text.splitlines():  # every row of a table has its header's number of cells
        if line.startswith("|"):
            cells = len(unescaped_split(line))
            widths.setdefault("current", cells)
            assert cells == widths["current"], line
        else:
            widths.clear()


def test_a_retrospective_audit_is_shown_suppressed_or_its_absence_explained(definitions, spec, audit):
    past = copy.deepcopy(audit)
    full = copy.deepcopy(audit) | {"retrospective": {"available": True, "as_of": "2025-09-30", "audit": past,
                                                     "outcome": "knife_possession as offender within 365 days"}}
    text = record(definitions, spec, audit=full)
    section = text.split("Retrospective audit")[1]
    assert "as of 2025-09-30, against knife_possession as offender within 365 days" in section
    assert "Black people in the scored population were 4.00 times (95% CI" in section
    assert "people of mixed ethnicity (n =" not in text  # small groups' rates never reach the record
    missing = copy.deepcopy(audit) | {"retrospective": {"available": False,
                                                        "reason": "the extract has no events on or before 2025-09-30"}}
    assert "Not available: the extract has no events on or before 2025-09-30." in record(definitions, spec,
                                                                                        audit=missing)


def test_the_record_is_the_same_for_the_same_inputs(definitions, spec, audit, manifest):
    first = record(definitions, spec, manifest=manifest, audit=audit)
    assert record(definitions, spec, manifest=manifest, audit=audit) == first


@pytest.mark.parametrize("value, expected", [
    ("knife_violence", "knife_violence"),
    ("_lead", "\\_lead"),
    ("Black*M", "Black\\*M"),
    ("A&E", "A&E"),
    ("&lt;", "&amp;lt;"),
    ("[link](http://x)", "\\[link\\](http://x)"),
    ("- item", "\\- item"),
    ("1. item", "1\\. item"),
    ("0.6", "0.6"),
    ("two\nlines\x00", "two lines"),
])
def test_markdown_text_escapes_what_markdown_would_interpret(value, expected):
    assert markdown_text(value) == expected
