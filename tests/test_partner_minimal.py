"""Partner packs minimal and per agency (issue 14, item 5).

No score of any kind in any partner file (a number next to the word "score"), no unproven
allegation (no further action, pending, no outcome) unless ``[partner] show_unproven``, the
rationale saying how many were left out; and each agency's own pack holds only its people and its
fields, is logged as its own disclosure naming the agency, and is read back by ``hkc decisions
import``.  The planted truths (an NFA and a pending allegation, a vulnerable victim, a removal for
an NFA-only weapon event) are in the police view, so every check here can fail.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hkc.definitions.settings import AgencySettings, PartnerSettings
from hkc.history.store import open_store
from hkc.messages import MOVEMENT_WORDS
from hkc.partnership.decisions import import_decisions
from hkc.partnership.partner_pack import allowed_columns, write_partner_pack
from hkc.partnership.partner_text import UNPROVEN, not_shown, proven_rationale, proven_reason
from hkc.partnership.pseudonyms import pseudonym
from hkc.refresh import run_refresh
from tests.builders import ExtractBuilder, offline_definitions

Q2 = dt.date(2026, 6, 30)
Q3 = dt.date(2026, 9, 30)
KEY = "partner-minimal-test-key: 0123456789 abcdefghij KLMNOP"
SCORE_NUMBER = re.compile(r"score\W{0,4}-?\d", re.IGNORECASE)
UNPROVEN_WORDS = re.compile(r"\b(nfa|pending|no outcome|no further action)\b", re.IGNORECASE)
AGENCIES = (AgencySettings(name="north", label="North Youth Justice", fields=("pseudonym", "rag", "rationale",
                                                                             "decision"), areas=("North",)),
            AgencySettings(name="health", label="Health"))


def force() -> ExtractBuilder:
    """C1 (North) carries an NFA and a pending allegation beside a conviction; VIC (North) is C1's vulnerable
    victim; C2 and C3 are in the South; GONE (North) was listed at Q2 and at Q3 has only an NFA weapon event."""
    b = ExtractBuilder(Q3)
    b.person("C1", age=16, area="North").event("C1", "knife_possession", days_ago=20, outcome="convicted") \
        .event("C1", "knife_possession", days_ago=40, outcome="nfa") \
        .event("C1", "violence", days_ago=60, outcome="pending", occurrence_id="O1")
    b.person("VIC", age=14, area="North").event("VIC", "knife_victim", days_ago=60, occurrence_id="O1") \
        .event("VIC", "missing_episode", days_ago=15)
    b.person("C2", age=15, area="South").event("C2", "knife_violence", days_ago=30, outcome="convicted") \
        .event("C2", "drug_supply", days_ago=45, outcome="pending")
    b.person("C3", age=17, area="South").event("C3", "knife_possession", days_ago=25, outcome="convicted")
    b.person("GONE", age=15, area="North").event("GONE", "knife_violence", days_ago=392, outcome="convicted") \
        .event("GONE", "knife_possession", days_ago=100, outcome="nfa")
    return b


def definitions(**partner):
    defs = offline_definitions()
    s = defs.settings
    return dataclasses.replace(defs, settings=dataclasses.replace(s, partner=dataclasses.replace(s.partner,
                                                                                                 **partner)))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("minimal")
    data = force().write(tmp / "data")
    defs = definitions(agencies=AGENCIES)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(defs.settings.partner.key_variable, KEY)
        for as_of in (Q2, Q3):
            result = run_refresh(data, as_of=as_of, out=tmp / str(as_of), definitions=defs,
                                 db_url=f"sqlite:///{tmp / 'h.db'}", extract_date=Q3, partner_pack="yes")
    return result, tmp


def partner_texts(out: Path) -> dict[str, str]:
    """Every partner file under ``out/partner`` as text (HTML markup stripped; a workbook, each zip member)."""
    texts = {}
    for path in sorted((out / "partner").rglob("*")):
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as zf:
                texts |= {f"{path}!{n}": re.sub(r"<[^>]+>", " ", zf.read(n).decode()) for n in zf.namelist()}
        elif path.suffix in (".html", ".csv", ".json"):
            texts[str(path)] = re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))
    return texts


def ps(person: str) -> str:
    return pseudonym(person, KEY.encode())


def test_the_planted_truths_are_in_the_police_view(run):
    result, tmp = run
    assert set(result.members["person_id"]) == {"C1", "C2", "C3"} and list(result.removed["person_id"]) == ["GONE"]
    police = pd.read_csv(tmp / str(Q3) / "cohort.csv").set_index("person_id")
    assert UNPROVEN_WORDS.search(police.loc["C1", "rationale"])
    assert "vulnerability score" in pd.read_csv(tmp / str(Q3) / "periphery.csv").set_index("person_id").loc[
        "VIC", "reason"]
    assert "all with outcome nfa" in pd.read_csv(tmp / str(Q3) / "removed.csv").set_index("person_id").loc[
        "GONE", "reason"]


def test_the_police_csv_keeps_ethnicity_and_says_movement_in_the_words_of_every_other_file(run):
    result, tmp = run
    police = pd.read_csv(tmp / str(Q3) / "cohort.csv").set_index("person_id")
    assert police["ethnicity"].notna().all()
    expected = result.members.set_index("person_id")["movement"].map(MOVEMENT_WORDS)
    assert police["movement"].to_dict() == expected.to_dict() and set(result.members["movement"]) >= {"new"}
    partner = pd.read_csv(tmp / str(Q3) / "partner" / "cohort.csv").set_index("pseudonym")["movement"]
    assert partner.to_dict() == {ps(p): w for p, w in expected.items()}


def test_no_partner_file_has_a_score_or_an_unproven_allegation(run):
    _result, tmp = run
    texts = {k: v for k, v in partner_texts(tmp / str(Q3)).items() if "/audit/" not in k}
    assert any("/north/" in k for k in texts) and any("/health/" in k for k in texts) and len(texts) > 20
    for name, text in texts.items():
        assert not SCORE_NUMBER.search(text), (name, SCORE_NUMBER.search(text))
        assert not UNPROVEN_WORDS.search(text), (name, UNPROVEN_WORDS.search(text))
    for path in (tmp / str(Q3) / "partner").rglob("cohort.*"):
        if path.suffix == ".csv":
            headers = list(pd.read_csv(path).columns)
        elif path.suffix == ".xlsx":
            wb = openpyxl.load_workbook(path)
            headers = [c.value for ws in wb if ws.sheet_state == "visible" and ws.title != "About" for c in ws[1]]
        else:
            continue
        assert not [h for h in headers if "score" in str(h).lower()], path


def test_the_rationale_says_how_many_unproven_allegations_were_left_out(run):
    result, tmp = run
    evidence = pd.read_parquet(tmp / str(Q3) / "evidence.parquet")
    theirs = evidence[(evidence["person_id"] == "C1") & (evidence["axis"] == "risk") & (evidence["points"] > 0)]
    unproven = int(theirs["outcome"].astype(object).fillna("no outcome").isin(UNPROVEN).sum())
    assert unproven == 2  # the NFA possession and the pending violence
    partner = pd.read_csv(tmp / str(Q3) / "partner" / "cohort.csv").set_index("pseudonym")
    assert partner.loc[ps("C1"), "rationale"].endswith(f"; {not_shown(unproven)}")
    assert "Possession of a bladed article ×1 (convicted)" in partner.loc[ps("C1"), "rationale"]
    removed = openpyxl.load_workbook(tmp / str(Q3) / "partner" / "cohort.xlsx")["Removed"]
    assert [r for r in removed.iter_rows(min_row=2, values_only=True)] == [
        (ps("GONE"), result.removed.set_index("person_id").loc["GONE", "previous_rag"],
         "no reported weapon-related event in the last 365 days qualifies")]


def test_show_unproven_puts_them_back(tmp_path, run):
    result, _tmp = run
    write_partner_pack(tmp_path, members=result.members, removed=result.removed, manifest=result.manifest,
                       settings=PartnerSettings(show_unproven=True), key=KEY.encode())
    rationale = pd.read_csv(tmp_path / "partner" / "cohort.csv").set_index("pseudonym").loc[ps("C1"), "rationale"]
    assert "nfa" in rationale and "pending" in rationale and "not shown" not in rationale


def test_each_agency_gets_only_its_people_and_its_fields(run):
    result, tmp = run
    out = tmp / str(Q3) / "partner"
    north = pd.read_csv(out / "north" / "cohort.csv")
    assert set(north["pseudonym"]) == {ps("C1")}
    assert set(north.columns) <= allowed_columns(PartnerSettings(fields=AGENCIES[0].fields))
    assert "age" not in north.columns and "area" not in north.columns
    wb = openpyxl.load_workbook(out / "north" / "cohort.xlsx")
    shown = {r[0] for name in ("Cohort", "Periphery", "Safeguarding", "Removed") for r in
             wb[name].iter_rows(min_row=2, values_only=True)}
    assert shown == {ps("C1"), ps("VIC"), ps("GONE")}
    assert "North Youth Justice" in (out / "north" / "cohort.html").read_text()
    health = pd.read_csv(out / "health" / "cohort.csv")  # no areas: everyone, under the [partner] fields
    assert set(health["pseudonym"]) == {ps(p) for p in result.members["person_id"]}
    assert list(health.columns) == list(pd.read_csv(out / "cohort.csv").columns)


def test_each_agency_pack_is_its_own_disclosure_and_imports_back(run):
    result, tmp = run
    store = open_store(f"sqlite:///{tmp / 'h.db'}")
    log = store.disclosures(run_id=result.run_id)
    files = [sorted(f) for f in log["files"]]
    assert sorted(log["audience"]) == ["partner", "partner", "partner", "police"]
    assert ["partner/north/cohort.csv", "partner/north/cohort.html", "partner/north/cohort.xlsx"] in files
    assert ["partner/health/cohort.csv", "partner/health/cohort.html", "partner/health/cohort.xlsx"] in files
    north = next(i for i, f in enumerate(files) if f[0].startswith("partner/north/"))
    assert store.disclosed_people(run_id=result.run_id) >= {"C1", "VIC", "GONE"}
    assert log.iloc[north]["people"] == 3
    assert [p.get("agency") for p in result.partner["packs"]] == [None, "north", "health"]
    wb = openpyxl.load_workbook(tmp / str(Q3) / "partner" / "north" / "cohort.xlsx")
    ws = wb["Cohort"]
    headers = [c.value for c in ws[1]]
    ws.cell(row=2, column=headers.index("Decision") + 1, value="adopt")
    ws.cell(row=2, column=headers.index("Reason") + 1, value="mentoring")
    filled = tmp / "north-filled.xlsx"
    wb.save(filled)
    report = import_decisions(store, filled, key=KEY.encode(), meeting_date=Q3 + dt.timedelta(days=10),
                              by="North chair", today=Q3 + dt.timedelta(days=20))
    assert (report.imported, report.by_decision) == (1, {"adopt": 1})
    assert store.decisions(["C1"])["decision"].tolist() == ["adopt"]


OUTCOMES = ("convicted", "charged", "cautioned", "pending", "nfa", "no outcome")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(OUTCOMES), st.integers(1, 4), min_size=1), min_size=1, max_size=5))
def test_proven_rationale_drops_exactly_the_unproven_counts(parts):
    """Counts computed a second way: what is dropped is the sum of unproven counts, what stays the rest."""
    texts = []
    for i, outcomes in enumerate(parts):
        total = sum(outcomes.values())
        note = next(iter(outcomes)) if len(outcomes) == 1 else ", ".join(f"{o} ×{k}" for o, k in outcomes.items())
        texts.append(f"indicator {i} (a label) ×{total}, latest 3 Mar 2026 ({note}), {10 - i} pts")
    text, dropped = proven_rationale("; ".join(texts))
    assert dropped == sum(k for o in parts for out, k in o.items() if out in UNPROVEN)
    kept = [o for o in parts if any(out not in UNPROVEN for out in o)]
    found = re.findall(r"ndicator (\d+) \(a label\) ×(\d+)", text)
    assert [int(i) for i, _ in found] == [i for i, o in enumerate(parts) if o in kept]
    assert [int(n) for _, n in found] == [sum(k for out, k in o.items() if out not in UNPROVEN) for o in kept]
    assert not UNPROVEN_WORDS.search(text)


def test_a_rationale_without_outcomes_and_reasons_without_unproven_ones_are_kept():
    graded = "Intelligence: carrying a knife ×3, latest 25 Sep 2026 (B5, C3, D2), 6.4 pts"
    assert proven_rationale(graded) == (graded, 0)
    assert proven_reason("age 18 is 1 year above the maximum age 17 at the as-of date") == \
        "age 18 is 1 year above the maximum age 17 at the as-of date"
    assert proven_reason("latest weapon-related event is 370 days old; the review window is 365 days: "
                         "knife violence (assault or wounding with a blade), pending") == \
        "latest weapon-related event is 370 days old; the review window is 365 days"
