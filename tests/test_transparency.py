"""Tests for the transparency record (hkc/transparency): the ATRS tiers as Markdown and JSON.

The first half checks what the record says from definitions, manifests and audits built here; the
second runs a demo-like history (two quarterly refreshes of a small synthetic force, a decision and a
consultation recorded) and checks that every field hkc knows is filled from it, that the JSON keeps
to its schema, and that the Markdown shows every section and field.  ``demo_history`` is shared with
tests/test_dpia.py (session scope: the two refreshes run once).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cli import main
from hkc.audit.disclosure import suppress_small_cells
from hkc.audit.findings import findings
from hkc.audit.groups import audit_selection
from hkc.definitions import refresh_audit_spec
from hkc.definitions.audit_spec import AuditSpec
from hkc.definitions.deployment import load_definitions
from hkc.errors import HkcError
from hkc.extract.contract import CONTRACT
from hkc.history import log_consultation, open_store
from hkc.refresh import run_refresh
from hkc.transparency import (
    COLUMN_USES,
    FOR_THE_PARTNERSHIP,
    NO_AUDIT,
    NO_RUN,
    RECORD_SCHEMA,
    Facts,
    check_json,
    dpia_document,
    gather_facts,
    load_backtest,
    markdown_text,
    to_json,
    to_markdown,
    transparency_document,
    transparency_record,
)
from tests.builders import quick_deployment

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
    assert f"who meet the eligibility rules, {listed}, for review" in text
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


def test_partnership_questions_are_asked_not_invented(definitions, spec):
    text = record(definitions, spec)
    for ref, name in (("2.1.3", "Senior responsible owner"), ("1.4", "Contact email"),
                      ("2.3.5", "Required training"), ("2.4.1.2", "Phase")):
        section = text.split(f"### {ref} {name}\n", 1)[1].split("\n###", 1)[0]
        assert section.strip().startswith(f"**{FOR_THE_PARTNERSHIP}:**"), section
    assert "to be completed" not in text.lower()


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
    section = text.split("Retrospective audit: the list of a year earlier")[1]
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


# --------------------------------------------------------------------------------------------
# A demo-like history: every field hkc knows is filled from it

QUARTERS = (dt.date(2026, 6, 30), dt.date(2026, 9, 30))

# Fields only the partnership can answer.  A field hkc knows must never join this list: the test
# below fails if one does (or if a field the partnership must answer is quietly filled).
ASKED_ONLY = {"0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.10", "0.12", "0.13", "0.14", "1.3", "1.4", "2.1.1",
              "2.1.3", "2.1.4.1", "2.1.4.2", "2.1.4.3", "2.1.4.4", "2.1.4.5", "2.2.4", "2.3.5", "2.4.1.2"}

# Words that would mean a field was not really filled.
NOT_FILLED = re.compile(r"(?i:to be completed|\bTODO\b|\bTBC\b)|\bNone\b|\bnan\b|\bNaN\b|\bnull\b|[{}]")


@dataclasses.dataclass(frozen=True)
class DemoHistory:
    url: str
    config: Path
    definitions: object
    spec: AuditSpec
    people: frozenset


@pytest.fixture(scope="session")
def demo_history(tmp_path_factory) -> DemoHistory:
    """A refresh of a small synthetic force into a history, as `hkc demo` makes (one quarter, to keep the
    tests fast; the earlier quarters a history holds are planted where a test needs them), then three
    decisions and one consultation recorded."""
    root = tmp_path_factory.mktemp("demo-history")
    config, data = quick_deployment(root, people=900, seed=5, until=QUARTERS[-1])
    definitions = load_definitions(config=config)
    url = f"sqlite:///{root / 'history.db'}"
    run_refresh(data, as_of=QUARTERS[-1], out=root / "out", definitions=definitions, db_url=url,
                extract_date=QUARTERS[-1], partner_pack="yes", demo_key=True, by="records officer")
    store = open_store(url, create=False)
    latest = store.find_run()
    members = store.cohort(latest.run_id)["person_id"].tolist()
    assert len(members) >= 3, "the synthetic force should list at least three people"
    store.record_decisions([
        {"run_id": latest.run_id, "as_of": latest.as_of.isoformat(), "person_id": person, "meeting_date": "2026-10-05",
         "decision": decision, "reason": "discussed", "recorded_by": "chair", "recorded_at": "2026-10-05T10:00:00+00:00",
         "source_file": "cohort.xlsx", "source_sha256": "0" * 64, "sheet": "Cohort", "row": i + 2}
        for i, (person, decision) in enumerate(zip(members, ("adopt", "monitor", "refer"), strict=False))])
    log_consultation(store, person_id=members[0], action="explain", purpose="case review", by="analyst",
                     run_as_of=latest.as_of)
    people = frozenset(pd.read_csv(data / "people.csv", dtype=str, encoding="utf-8-sig")["person_id"])
    return DemoHistory(url=url, config=config, definitions=definitions, spec=refresh_audit_spec(definitions),
                       people=people)


def demo_facts(h: DemoHistory, **changes) -> Facts:
    facts = gather_facts(open_store(h.url, create=False), definitions=h.definitions, audit_spec=h.spec,
                         today=QUARTERS[-1] + dt.timedelta(days=20))
    return dataclasses.replace(facts, **changes)


def fields_of(document: dict) -> dict[str, dict]:
    return {f["ref"]: f for s in document["sections"] for f in s["fields"]}


def block_texts(field: dict) -> list[str]:
    """Every text of a field's value: paragraphs, items and table cells."""
    out = []
    for block in field["value"] or []:
        out += [block["text"]] if "text" in block else block.get("items", [])
        if "table" in block:
            out += [cell for row in block["table"]["rows"] for cell in row]
    return out


def test_every_field_hkc_knows_is_filled_for_a_demo_like_run(demo_history):
    document = to_json(transparency_document(demo_facts(demo_history)))
    fields = fields_of(document)
    asked_only = {ref for ref, f in fields.items() if f["filled_by"] == "partnership"}
    assert asked_only == ASKED_ONLY
    for ref, f in fields.items():
        if f["filled_by"] == "partnership":
            assert f["value"] is None and f["for_the_partnership"], ref
            continue
        texts = block_texts(f)
        assert texts and all(t.strip() for t in texts), (ref, texts)
        assert not [t for t in texts if NOT_FILLED.search(t)], (ref, [t for t in texts if NOT_FILLED.search(t)])
        assert f["from"], ref
    markdown = to_markdown(transparency_document(demo_facts(demo_history)))
    assert "to be completed" not in markdown.lower() and NO_RUN not in markdown and NO_AUDIT not in markdown


def test_fields_carry_what_the_history_holds(demo_history):
    store = open_store(demo_history.url, create=False)
    latest = store.find_run()
    manifest = store.manifest(latest.run_id)
    fields = fields_of(to_json(transparency_document(demo_facts(demo_history))))

    def text(ref: str) -> str:
        return " ".join(block_texts(fields[ref]))

    scores = store.person_scores(latest.run_id)  # counted a second way, from the store itself
    storage = text("2.4.3.11")
    assert f"Retention period: {demo_history.definitions.settings.retention.days:,} days" in storage
    assert f"for {len(scores):,} of the {manifest['scored']:,} people scored" in storage
    assert f"people with no risk score at all ({int((scores['risk_score'] == 0).sum()):,} of them)" in storage
    assert f"The history holds 1 refresh (as of {QUARTERS[-1]})" in text("2.3.3") and len(store.list_runs()) == 1
    assert ["listed (the cohort)", str(manifest["cohort_size"])] in fields["2.3.3"]["value"][1]["table"]["rows"]
    assert "3 recorded decisions from 1 meeting (adopt 1, monitor 1, refer 1)" in text("2.3.4")
    assert "The log holds 1 consultation(s) (explain 1)." in text("2.3.6")
    logged = store.disclosures(run_id=latest.run_id)
    table = next(b["table"] for b in fields["2.4.3.10"]["value"] if "table" in b)
    assert sorted((r[0], int(r[2])) for r in table["rows"]) == sorted(zip(logged["audience"], logged["people"],
                                                                          strict=True))
    assert "The disclosure log records who ran each refresh" in text("2.1.2")
    assert "records officer" not in json.dumps(fields)  # staff names stay out of a published record
    assert ", ".join(demo_history.definitions.settings.partner.fields) in text("2.3.2")
    assert manifest["audit"]["summary"] in text("2.5.2")
    assert manifest["chance"]["sentence"] in text("2.4.2.7")


def test_retention_status_follows_the_date_and_the_setting(demo_history):
    days = demo_history.definitions.settings.retention.days
    first, last = QUARTERS

    def storage(today: dt.date, retention_days: int = days) -> str:
        settings = dataclasses.replace(demo_history.definitions.settings, retention=dataclasses.replace(
            demo_history.definitions.settings.retention, days=retention_days))
        facts = demo_facts(demo_history, today=today,
                           definitions=dataclasses.replace(demo_history.definitions, settings=settings))
        two_runs = dataclasses.replace(facts.history, runs=(first.isoformat(), last.isoformat()))  # planted
        facts = dataclasses.replace(facts, history=two_runs)
        return " ".join(block_texts(fields_of(to_json(transparency_document(facts)))["2.4.3.11"]))

    fresh = storage(last + dt.timedelta(days=1))
    assert f"no stored run is older than the retention period; the oldest (as of {first}) is due for deletion on " \
           f"{first + dt.timedelta(days=days)}" in fresh
    one_due = first + dt.timedelta(days=days + 1)  # the first run is past the period, the second is not
    assert first < one_due - dt.timedelta(days=days) <= last
    assert f"a purge is overdue: 1 stored run is older than the retention period (as of {first} to {first})" in \
           storage(one_due)
    assert "a purge is overdue: 2 stored runs are older" in storage(last + dt.timedelta(days=100), retention_days=50)
    assert "Retention period: 50 days" in storage(last, retention_days=50)


def test_the_json_keeps_to_its_schema(demo_history):
    document = to_json(transparency_document(demo_facts(demo_history)))
    assert check_json(document) == []
    assert json.loads(json.dumps(document)) == document
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(document, RECORD_SCHEMA)  # a second, independent check of the same structure
    counts = document["counts"]
    assert sum(counts.values()) == len(fields_of(document))

    def broken(change) -> dict:
        copy_ = copy.deepcopy(document)
        change(copy_["sections"][1]["fields"][0])
        return copy_

    for change in (lambda f: f.update(value=None),                      # hkc's field without a value
                   lambda f: f.update(filled_by="partnership"),         # asked, yet carrying a value
                   lambda f: f.update(value=[{"text": ""}]),            # an empty paragraph
                   lambda f: f.update(value=[{"items": []}]),           # no items
                   lambda f: f.update(**{"from": []}),                  # no basis for hkc's value
                   lambda f: f.pop("attribute")):
        bad = broken(change)
        assert check_json(bad)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, RECORD_SCHEMA)
    ragged = broken(lambda f: f.update(value=[{"table": {"columns": ["a", "b"], "rows": [["1"]]}}]))
    assert any("table row 1 has 1 cells for 2 columns" in p for p in check_json(ragged))


def test_the_markdown_shows_every_section_field_and_question(demo_history):
    document = transparency_document(demo_facts(demo_history))
    markdown = to_markdown(document)
    headings = {line for line in markdown.splitlines() if line.startswith("#")}
    for section in to_json(document)["sections"]:
        assert f"## {markdown_text(section['ref'] + ' ' + section['title'])}" in headings
        for f in section["fields"]:
            assert f"### {markdown_text(f['ref'] + ' ' + f['name'])}" in headings
            part = markdown.split(f"### {markdown_text(f['ref'] + ' ' + f['name'])}\n", 1)[1].split("\n### ", 1)[0]
            if f["for_the_partnership"]:
                assert f"**{FOR_THE_PARTNERSHIP}:** {markdown_text(f['for_the_partnership'])}" in part
            for block in f["value"] or []:
                for line in ([block["text"]] if "text" in block else block.get("items", [])):
                    assert markdown_text(line) in part, (f["ref"], line)


def test_no_person_identifier_reaches_the_record(demo_history):
    facts = demo_facts(demo_history)
    texts = to_markdown(transparency_document(facts)) + json.dumps(to_json(transparency_document(facts)))
    found = set(re.findall(r"\bP\d{4,}\b", texts)) & demo_history.people
    assert not found and len(demo_history.people) > 100
    assert "HKC-" not in texts and "DEMO-" not in texts  # nor a pseudonym


def test_names_from_the_history_are_escaped(demo_history):
    facts = demo_facts(demo_history)
    history = dataclasses.replace(facts.history, run_disclosures=tuple(
        {**d, "disclosed_by": HOSTILE} for d in facts.history.run_disclosures))
    markdown = to_markdown(dpia_document(dataclasses.replace(facts, history=history)))  # names who wrote packs
    assert "<script>" not in markdown and markdown_text(HOSTILE) in markdown


def test_a_backtest_adds_its_figures_and_a_bad_one_is_refused(demo_history, tmp_path):
    ci = {"roc_auc": [0.70, 0.83], "precision_at_k": [0.05, 0.38], "recall_at_k": [0.02, 0.2]}
    rankers = {"matrix": {"roc_auc": 0.776, "precision_at_k": 0.217, "recall_at_k": 0.109, "ci": ci},
               "random": {"roc_auc": 0.492, "precision_at_k": 0.1, "recall_at_k": 0.05, "ci": {}}}
    (tmp_path / "bt").mkdir()
    (tmp_path / "bt" / "backtest.json").write_text(json.dumps(
        {"rankers": rankers, "k": 50, "n": 939, "positives": 46, "test_snapshot": "2025-09-30", "pool": "eligible",
         "pool_size": 23, "label": {"description": "knife events within 365 days"},
         "descriptions": {"matrix": "the matrix's risk score"}}))
    facts = demo_facts(demo_history, backtest=load_backtest(tmp_path / "bt"))
    performance = fields_of(to_json(transparency_document(facts)))["2.4.2.7"]
    table = next(b["table"] for b in performance["value"] if "table" in b)
    assert table["rows"][0] == ["matrix", "the matrix's risk score", "0.776 [0.700, 0.830]", "0.217 [0.050, 0.380]",
                                "0.109 [0.020, 0.200]"]
    assert "the backtest (backtest.json)" in performance["from"]
    (tmp_path / "bad.json").write_text(json.dumps({"rankers": {"random": {}}}))
    for bad in (tmp_path / "bad.json", tmp_path / "missing"):
        with pytest.raises(HkcError, match="not a backtest"):
            load_backtest(bad)


def test_the_command_writes_markdown_and_json(demo_history, tmp_path):
    runner = CliRunner()
    common = ["--db", demo_history.url, "--config", str(demo_history.config)]
    result = runner.invoke(main, ["transparency", *common, "--json", "--out", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "r.json").read_text())
    assert check_json(document) == [] and document["generated"]["run_as_of"] == QUARTERS[-1].isoformat()
    result = runner.invoke(main, ["transparency", *common, "--run", QUARTERS[-1].isoformat()])
    assert result.exit_code == 0 and f"from the run as of {QUARTERS[-1]}" in result.output
    missing = runner.invoke(main, ["transparency", *common, "--run", QUARTERS[0].isoformat()])
    assert missing.exit_code == 2 and f"no run with as-of date {QUARTERS[0]}" in missing.output
    again = runner.invoke(main, ["transparency", *common, "--out", str(tmp_path / "r.json")])
    assert again.exit_code == 2 and "error:" in again.output  # an existing file needs --force
