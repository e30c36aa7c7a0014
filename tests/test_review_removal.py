"""Removed on review: a meeting's "remove" (with a reason) takes a person off future lists — not eligible,
"removed by partnership review on DATE" — until a risk event dated after that meeting arrives, which puts
them back in the ranking; their leaving the list has the cause ``review_decision``."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from hkc.history import open_store, removed_on_review
from hkc.partnership import DecisionImportError, import_decisions
from hkc.partnership.decisions import PROBLEMS
from hkc.partnership.pseudonyms import DEMO_KEY
from hkc.refresh import run_refresh
from tests.builders import ExtractBuilder
from tests.test_cases import decide
from tests.test_movement_causes import T0, T1, dated, days, filler, pinned

MEETING = dt.date(2026, 7, 10)
HELD = "R1"       # removed on review; nothing new: kept off the list at T1
BACK = "R2"       # removed on review; a knife possession dated after the meeting: back in the ranking
OTHERS = ("S1", "S2", "S3")


def quarter(day: dt.date) -> ExtractBuilder:
    b = ExtractBuilder(as_of=day)
    for person in (HELD, BACK, *OTHERS):
        b.person(person, age=15)
        dated(b, person, "knife_possession", days(40), outcome="convicted", event_id=f"{person}-1")
    if day == T1:
        dated(b, BACK, "knife_possession", days(20, T1), outcome="charged", event_id=f"{BACK}-2")
    filler(b, day)
    return b


def refresh(folder, day, tmp):
    return run_refresh(folder, as_of=day, out=tmp / f"out-{day}", definitions=pinned(size=5),
                       db_url=f"sqlite:///{tmp / 'history.db'}", extract_date=day, partner_pack="yes", demo_key=True)


@pytest.fixture(scope="module")
def quarters(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("review")
    first = refresh(quarter(T0).write(tmp / "q2"), T0, tmp)
    store = open_store(f"sqlite:///{tmp / 'history.db'}", create=False)
    pack = tmp / f"out-{T0}" / "partner" / "cohort.xlsx"
    import_decisions(store, decide(pack, {HELD: {"Decision": "remove", "Reason": "no current concern on review"},
                                          BACK: {"Decision": "remove", "Reason": "no current concern on review"}},
                                   tmp / "decided.xlsx"), key=DEMO_KEY, meeting_date=MEETING, by="chair", today=MEETING)
    second = refresh(quarter(T1).write(tmp / "q3"), T1, tmp)
    return {"tmp": tmp, "store": store, "first": first, "second": second, "pack": pack}


def test_a_person_removed_on_review_is_kept_off_until_new_evidence_dated_after_the_review(quarters):
    assert {HELD, BACK} <= set(quarters["first"].members["person_id"])
    listed = set(quarters["second"].members["person_id"])
    assert HELD not in listed and BACK in listed
    scores = pd.read_parquet(quarters["tmp"] / f"out-{T1}" / "scores.parquet").set_index("person_id")
    assert not scores.loc[HELD, "eligible"]
    assert scores.loc[HELD, "reason"] == f"removed by partnership review on {MEETING}"
    removed = pd.read_csv(quarters["tmp"] / f"out-{T1}" / "removed.csv", dtype=str).set_index("person_id")
    assert list(removed.index) == [HELD] and removed.loc[HELD, "cause"] == "review_decision"


def test_who_is_removed_on_review_follows_the_latest_decision_up_to_the_date(quarters):
    store = quarters["store"]
    assert set(removed_on_review(store, T1)["person_id"]) == {HELD, BACK}
    assert removed_on_review(store, MEETING - dt.timedelta(days=1)).empty       # not before the meeting


def test_a_remove_without_a_reason_is_refused_and_nothing_is_stored(quarters, tmp_path):
    store = quarters["store"]
    before = len(store.decisions())
    with pytest.raises(DecisionImportError) as refused:
        import_decisions(store, decide(quarters["pack"], {"S1": {"Decision": "remove"}}, tmp_path / "bad.xlsx"),
                         key=DEMO_KEY, meeting_date=MEETING, by="chair", today=MEETING)
    assert PROBLEMS["remove_reason"] in str(refused.value) + "".join(str(p) for p in refused.value.problems)
    assert len(store.decisions()) == before
