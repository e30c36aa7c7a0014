"""The refresh end to end on hand-made extracts: outputs, history, movement, atomicity."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import hkc.refresh.publish as refresh_module
from hkc.extract import load_extract
from hkc.history.review import compare_runs, explain_person
from hkc.history.store import open_store
from hkc.matrix import CUT_OFF, format_points, score_people, select_cohort
from hkc.matrix.scoring import REASONS
from hkc.refresh import run_refresh
from hkc.refresh.frames import scores_frame
from hkc.report_text import explanation
from tests.builders import ExtractBuilder, offline_definitions

Q2 = dt.date(2026, 6, 30)
Q3 = dt.date(2026, 9, 30)
COHORT_CSV_COLUMNS = ["rank", "person_id", "risk_score", "rag", "vulnerability_score", "age", "sex", "ethnicity",
                      "area", "movement", "rationale"]


@pytest.fixture
def definitions():
    return offline_definitions()


def quarter_extract(as_of: dt.date) -> ExtractBuilder:
    """A small force: strong and weak carriers, a victim, stale history, intelligence cases.

    Points (gravity x outcome x 0.5^(days / half-life), features/indicators.toml): MID's charged
    possession 40 days old is 32 x 0.90 = 28.9, over the minimum risk score 25; INTEL's cautioned
    possession 60 days old, 28 x 0.86 = 24.0, plus its two graded intelligence reports (9.8) is
    33.8; WEAK's pending possession 40 days old is 20 x 0.90 = 18.0, under it; INTEL-ONLY has
    intelligence alone, which is police-generated and lists nobody by default.
    """
    b = ExtractBuilder(as_of)
    b.person("STRONG", age=16).event("STRONG", "knife_possession", days_ago=20, outcome="convicted") \
        .event("STRONG", "knife_violence", days_ago=60, outcome="charged") \
        .event("STRONG", "missing_episode", days_ago=10)
    b.person("MID", age=17, area="=HYPERLINK(\"http://x\")").event("MID", "knife_possession", days_ago=40,
                                                                   outcome="charged")
    b.person("INTEL", age=15, area="<script>alert(1)</script>") \
        .event("INTEL", "knife_intel", days_ago=5, grade="B2").event("INTEL", "knife_intel", days_ago=70, grade="C3") \
        .event("INTEL", "knife_possession", days_ago=60, outcome="cautioned")
    b.person("WEAK", age=16).event("WEAK", "knife_possession", days_ago=40, outcome="pending")
    b.person("INTEL-ONLY", age=15).event("INTEL-ONLY", "knife_intel", days_ago=5, grade="B2") \
        .event("INTEL-ONLY", "knife_intel", days_ago=70, grade="C3")
    b.person("VICTIM", age=14).event("VICTIM", "knife_victim", days_ago=15) \
        .event("VICTIM", "violence", role="victim", days_ago=15)
    b.person("STALE", age=17).event("STALE", "knife_possession", days_ago=400, outcome="convicted")
    b.person("NOBODY", age=16)
    return b


def run(tmp_path: Path, builder: ExtractBuilder, definitions, *, as_of: dt.date, name: str = "out", **kw):
    data = builder.write(tmp_path / f"data-{as_of}")
    return run_refresh(data, as_of=as_of, out=tmp_path / name, definitions=definitions,
                       db_url=f"sqlite:///{tmp_path / 'history.db'}", extract_date=Q3 + dt.timedelta(days=1), **kw)


def test_refresh_writes_every_output_with_the_documented_columns(tmp_path, definitions):
    result = run(tmp_path, quarter_extract(Q3), definitions, as_of=Q3)
    out = tmp_path / "out"
    expected = {"cohort.csv", "scores.parquet", "contributions.csv", "rejects.csv", "cohort.xlsx", "cohort.html",
                "run.json", "removed.csv", "evidence.parquet"}
    assert expected <= {p.name for p in out.iterdir()}
    cohort = pd.read_csv(out / "cohort.csv")
    assert list(cohort.columns[:len(COHORT_CSV_COLUMNS)]) == COHORT_CSV_COLUMNS
    assert list(cohort["person_id"]) == ["STRONG", "INTEL", "MID"]
    assert list(cohort["rank"]) == [1, 2, 3]
    scores = pd.read_parquet(out / "scores.parquet")
    assert {"person_id", "risk_score", "vulnerability_score", "eligible", "reason"} <= set(scores.columns)
    assert len(scores) == len(quarter_extract(Q3).people) == 8
    assert result.manifest["cohort_size"] == 3


def test_victim_only_person_has_zero_risk_and_is_never_listed(tmp_path, definitions):
    run(tmp_path, quarter_extract(Q3), definitions, as_of=Q3)
    scores = pd.read_parquet(tmp_path / "out" / "scores.parquet").set_index("person_id")
    assert scores.loc["VICTIM", "risk_score"] == 0
    assert scores.loc["VICTIM", "vulnerability_score"] > 0
    assert not scores.loc["VICTIM", "eligible"]
    assert scores.loc["VICTIM", "reason"] == REASONS["vulnerability_only"]
    assert scores.loc["STALE", "reason"] == REASONS["stale_weapon"].format(
        age=400, days=365, event="possession of a bladed article, convicted")
    assert scores.loc["NOBODY", "reason"] == REASONS["no_events"]


def test_weak_evidence_and_intelligence_alone_are_scored_but_not_listed(tmp_path, definitions):
    run(tmp_path, quarter_extract(Q3), definitions, as_of=Q3)
    scores = pd.read_parquet(tmp_path / "out" / "scores.parquet").set_index("person_id")
    weak = 20 * 0.5 ** (40 / 270)  # pending possession, 40 days old
    assert scores.loc["WEAK", "risk_score"] == pytest.approx(weak, abs=0.05)
    assert scores.loc["WEAK", "reason"] == REASONS["low_score"].format(
        score=format_points(round(weak, 1)), gap=format_points(round(25 - weak, 1)), minimum="25")
    assert not scores.loc[["WEAK", "INTEL-ONLY"], "eligible"].any()
    assert scores.loc["INTEL-ONLY", "reason"] == REASONS["police_generated_only"].format(
        days=365, found="intelligence: carrying a knife ×2, corroborated")


def test_contributions_sum_to_the_scores_of_every_person(tmp_path, definitions):
    run(tmp_path, quarter_extract(Q3), definitions, as_of=Q3)
    contrib = pd.read_csv(tmp_path / "out" / "contributions.csv")
    scores = pd.read_parquet(tmp_path / "out" / "scores.parquet").set_index("person_id")
    sums = contrib.pivot_table(index="person_id", columns="axis", values="points", aggfunc="sum").fillna(0)
    for person, row in scores.iterrows():
        assert row["risk_score"] == pytest.approx(sums["risk"].get(person, 0), abs=1e-9)
        assert row["vulnerability_score"] == pytest.approx(sums["vulnerability"].get(person, 0), abs=1e-9)


def test_rationale_names_every_contributing_indicator_and_adds_up(tmp_path, definitions):
    run(tmp_path, quarter_extract(Q3), definitions, as_of=Q3)
    cohort = pd.read_csv(tmp_path / "out" / "cohort.csv").set_index("person_id")
    text = cohort.loc["STRONG", "rationale"]
    assert text.startswith("Knife violence") or text.startswith("Possession of a bladed article")
    assert "possession of a bladed article ×1" in text.lower() and "knife violence" in text.lower()
    pts = [float(part.rsplit(", ", 1)[1].removesuffix(" pts")) for part in text.split("; ")]
    assert sum(pts) == pytest.approx(cohort.loc["STRONG", "risk_score"], abs=0.05)
    assert cohort.loc["STRONG", "vulnerability_rationale"].startswith("Missing episode ×1")


def test_rerun_gives_identical_outputs_and_replaces_the_stored_run(tmp_path, definitions):
    builder = quarter_extract(Q3)
    first = run(tmp_path, builder, definitions, as_of=Q3, name="a")
    second = run(tmp_path, builder, definitions, as_of=Q3, name="b")
    assert (tmp_path / "a" / "cohort.csv").read_bytes() == (tmp_path / "b" / "cohort.csv").read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / "scores.parquet"),
                                  pd.read_parquet(tmp_path / "b" / "scores.parquet"))
    assert not first.replaced and second.replaced
    assert [r.as_of for r in open_store(f"sqlite:///{tmp_path / 'history.db'}").list_runs()] == [Q3]


def test_shuffled_extract_gives_the_same_cohort(tmp_path, definitions):
    builder = quarter_extract(Q3)
    run(tmp_path, builder, definitions, as_of=Q3, name="a")
    builder.people.reverse()
    builder.events.reverse()
    run(tmp_path, builder, definitions, as_of=Q3, name="b")
    assert (tmp_path / "a" / "cohort.csv").read_bytes() == (tmp_path / "b" / "cohort.csv").read_bytes()


def test_manifest_records_hashes_counts_and_config(tmp_path, definitions):
    result = run(tmp_path, quarter_extract(Q3), definitions, as_of=Q3)
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    people_file = Path(manifest["data_dir"]) / "people.csv"
    assert manifest["inputs"]["people"]["sha256"] == hashlib.sha256(people_file.read_bytes()).hexdigest()
    assert manifest["as_of"] == "2026-09-30"
    assert manifest["counts"]["events"]["read"] == len(quarter_extract(Q3).events)
    assert all(c["read"] == c["used"] + c["rejected"] for c in manifest["counts"].values())
    assert len(manifest["config_sha256"]) == 64 and manifest["hkc_version"]
    assert manifest["started_at"] <= manifest["finished_at"]
    assert result.manifest["config_sha256"] == manifest["config_sha256"]


def test_failed_run_leaves_previous_outputs_and_history_intact(tmp_path, definitions, monkeypatch):
    run(tmp_path, quarter_extract(Q3), definitions, as_of=Q3)
    before = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}

    def explode(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(refresh_module, "write_xlsx", explode)
    changed = quarter_extract(Q3).person("LATE", age=16).event("LATE", "knife_violence", days_ago=1,
                                                                 outcome="convicted")
    with pytest.raises(RuntimeError, match="disk full"):
        run(tmp_path, changed, definitions, as_of=Q3)
    after = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out") and p.name != ".out.lock"]
    store = open_store(f"sqlite:///{tmp_path / 'history.db'}")
    assert "LATE" not in set(store.cohort(store.find_run(Q3).run_id)["person_id"])


def test_failed_history_write_leaves_outputs_untouched(tmp_path, definitions, monkeypatch):
    run(tmp_path, quarter_extract(Q3), definitions, as_of=Q3)
    before = (tmp_path / "out" / "cohort.csv").read_bytes()
    from hkc.history.store import HistoryStore

    def explode(*_a, **_k):
        raise RuntimeError("database went away")

    monkeypatch.setattr(HistoryStore, "save_run", explode)
    with pytest.raises(RuntimeError):
        run(tmp_path, quarter_extract(Q3).person("LATE", age=16)
            .event("LATE", "knife_violence", days_ago=1, outcome="convicted"), definitions, as_of=Q3)
    assert (tmp_path / "out" / "cohort.csv").read_bytes() == before


def two_quarters(tmp_path: Path, definitions):
    q2 = ExtractBuilder(Q2)
    q2.person("STAY", age=16).event("STAY", "knife_possession", days_ago=10, outcome="convicted") \
        .event("STAY", "knife_violence", days_ago=20, outcome="convicted")
    # FADE: knife violence, convicted, 300 days old: 60 x 0.5^(300/365) = 34, over the minimum 25.
    q2.person("FADE", age=17).event("FADE", "knife_violence", days_ago=300, outcome="convicted")
    q2.person("DROP", age=17).event("DROP", "knife_intel", days_ago=5, grade="B2") \
        .event("DROP", "knife_intel", days_ago=9, grade="B2") \
        .event("DROP", "knife_possession", days_ago=20, outcome="convicted")
    run(tmp_path, q2, definitions, as_of=Q2, name="q2")
    # Q3: the same history seen a quarter later, plus a newcomer.  FADE's only weapon event is now
    # more than 365 days old; DROP's evidence is still in the window, but DROP is now 18.
    q3 = ExtractBuilder(Q3)
    q3.person("STAY", age=16).event("STAY", "knife_possession", days_ago=102, outcome="convicted") \
        .event("STAY", "knife_violence", days_ago=112, outcome="convicted")
    q3.person("FADE", age=17).event("FADE", "knife_violence", days_ago=392, outcome="convicted")
    q3.person("DROP", age=18).event("DROP", "knife_intel", days_ago=97, grade="B2") \
        .event("DROP", "knife_intel", days_ago=101, grade="B2") \
        .event("DROP", "knife_possession", days_ago=112, outcome="convicted")
    q3.person("NEW", age=15).event("NEW", "knife_possession", days_ago=3, outcome="convicted") \
        .event("NEW", "knife_violence", days_ago=4, outcome="convicted") \
        .event("NEW", "robbery", days_ago=4, outcome="convicted")
    return run(tmp_path, q3, definitions, as_of=Q3, name="q3")


def test_movement_and_removed_with_reasons_across_two_quarters(tmp_path, definitions):
    result = two_quarters(tmp_path, definitions)
    cohort = pd.read_csv(tmp_path / "q3" / "cohort.csv").set_index("person_id")
    assert cohort.loc["NEW", "movement"] == "new"
    assert cohort.loc["NEW", "rank"] == 1
    assert cohort.loc["STAY", "movement"] == "\u25bc down"  # rank 1 -> 2 (RAG may fall too with decay)
    removed = pd.read_csv(tmp_path / "q3" / "removed.csv").set_index("person_id")
    fade = REASONS["stale_weapon"].format(age=392, days=365,
                                          event="knife violence (assault or wounding with a blade), convicted")
    assert removed.loc["FADE", "reason"] == fade
    assert removed.loc["DROP", "reason"] == REASONS["age_over"].format(age=18, gap="1 year", max_age=17)
    assert result.manifest["previous_as_of"] == "2026-06-30"
    html = (tmp_path / "q3" / "cohort.html").read_text()
    assert "FADE" in html and "latest weapon-related event is 392 days old" in html


def test_compare_runs_reports_entries_exits_and_the_reduced_or_removed_share(tmp_path, definitions):
    two_quarters(tmp_path, definitions)
    store = open_store(f"sqlite:///{tmp_path / 'history.db'}")
    change = compare_runs(store, Q2, Q3)
    assert [e["person_id"] for e in change["entries"]] == ["NEW"]
    assert {e["person_id"] for e in change["exits"]} == {"FADE", "DROP"}
    stay = [c for c in change["rag_changes"] if c["person_id"] == "STAY"][0]
    reduced = int(stay["change"] == "reduced")
    assert change["share_reduced_or_removed"] == pytest.approx((2 + reduced) / 3)


def test_explain_lists_every_contributing_event_with_points_that_add_up(tmp_path, definitions):
    run(tmp_path, quarter_extract(Q3), definitions, as_of=Q3)
    info = explain_person(open_store(f"sqlite:///{tmp_path / 'history.db'}"), "STRONG")
    assert {e["indicator"] for e in info["evidence"]} == {"knife_possession", "knife_violence", "missing_episode"}
    risk_events = sum(e["points"] for e in info["evidence"] if e["axis"] == "risk")
    assert round(risk_events, 1) == pytest.approx(info["score"]["risk_score"], abs=0.11)
    assert all(e["date"] and e["role"] for e in info["evidence"])


def test_pack_escapes_html_and_neutralises_spreadsheet_formulas(tmp_path, definitions):
    run(tmp_path, quarter_extract(Q3), definitions, as_of=Q3)
    html = (tmp_path / "out" / "cohort.html").read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<link" not in html and "src=" not in html and 'href="http' not in html
    csv_text = (tmp_path / "out" / "cohort.csv").read_text()
    assert ",=HYPERLINK" not in csv_text and "'=HYPERLINK" in csv_text
    sheet = openpyxl.load_workbook(tmp_path / "out" / "cohort.xlsx")["Cohort"]
    areas = [row[8] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert all(not str(a).startswith("=") for a in areas)
    assert any(str(a).startswith("'=HYPERLINK") for a in areas)
    assert sheet.freeze_panes == "A2"


def test_second_refresh_to_the_same_folder_exits_with_a_clear_message(tmp_path, definitions):
    import multiprocessing

    from hkc.outputs.folder import RefreshLocked, output_lock

    ready, release = multiprocessing.Event(), multiprocessing.Event()

    def hold():
        with output_lock(tmp_path / "out"):
            ready.set()
            release.wait(30)

    holder = multiprocessing.get_context("fork").Process(target=hold)
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(RefreshLocked, match=r"another refresh is writing .*out \(pid \d+, started"):
            run(tmp_path, quarter_extract(Q3), definitions, as_of=Q3)
        assert not (tmp_path / "out").exists()
    finally:
        release.set()
        holder.join(30)
    run(tmp_path, quarter_extract(Q3), definitions, as_of=Q3)  # the lock went with the process
    assert (tmp_path / "out" / "cohort.csv").is_file()


def test_scores_name_the_cohort_cut_off_and_by_how_much(tmp_path, definitions):
    """MID (28.9) is eligible; with the cohort minimum raised to 30 it is not listed, 1.1 points short."""
    extract = load_extract(quarter_extract(Q3).write(tmp_path / "data"), catalogue=definitions.catalogue,
                           extract_date=Q3)
    scored = score_people(extract.people, extract.events, catalogue=definitions.catalogue,
                          eligibility=definitions.settings.eligibility, as_of=Q3)
    for cohort, expected in (
            (dataclasses.replace(definitions.settings.cohort, min_score=30.0),
             CUT_OFF["score"].format(score="28.9", gap="1.1", minimum="30")),
            (dataclasses.replace(definitions.settings.cohort, size=2),
             CUT_OFF["rank"].format(rank=3, size=2))):
        chosen = select_cohort(scored.scores, cohort=cohort, rag=definitions.settings.rag)
        frame = scores_frame(scored, chosen.ranked, chosen.members, cohort=cohort).set_index("person_id")
        assert frame.loc["MID", "eligible"] and not frame.loc["MID", "in_cohort"]
        assert frame.loc["MID", "reason"] == expected


def test_explain_prints_why_someone_is_not_listed_with_the_amount(tmp_path, definitions):
    small = dataclasses.replace(definitions, settings=dataclasses.replace(
        definitions.settings, cohort=dataclasses.replace(definitions.settings.cohort, size=2)))
    run(tmp_path, quarter_extract(Q3), small, as_of=Q3)
    store = open_store(f"sqlite:///{tmp_path / 'history.db'}")
    weak = explain_person(store, "WEAK")
    assert weak["status"] == "not eligible: " + REASONS["low_score"].format(score="18", gap="7", minimum="25")
    assert f"risk 18, vulnerability 0 ({weak['status']})" in explanation(weak)
    mid = explain_person(store, "MID")  # eligible, priority rank 3 of a cohort of 2
    assert mid["status"].startswith("eligible, not listed: ") and "cohort cut-off" in mid["status"]
    assert "rank 3" in mid["status"]
    assert f"({mid['status']})" in explanation(mid)
