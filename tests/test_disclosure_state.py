"""Packs a refresh logs with its run are pending until its folder is published; a killed run's are settled.

On SQLite and, with ``HKC_TEST_PG_URL``, on PostgreSQL (the ``store_url`` fixture).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3

from hkc.history.store import open_store
from tests.test_history_store import AS_OF, frames, manifest


def _pack(folder, name: str, text: str) -> dict:
    (folder / name).write_text(text)
    return {name: hashlib.sha256(text.encode()).hexdigest()}


def _save(store, out, packs):
    return store.save_run(as_of=AS_OF, manifest=manifest(AS_OF), audit=None, disclosures_pending=packs,
                          folder=out, **frames())


def test_pending_until_confirmed_then_in_the_log(store_url, tmp_path):
    store = open_store(store_url)
    out = tmp_path / "out"
    out.mkdir()
    files = _pack(out, "cohort.csv", "rank,person_id\n1,P1\n")
    run_id, _ = _save(store, out, [{"audience": "police", "files": files, "person_ids": ["P1", "P2"], "by": "a"}])
    log = store.disclosures(run_id=run_id)
    assert len(log) == 1 and not log.loc[0, "published"] and log.loc[0, "folder"] == str(out.resolve())
    assert store.disclosed_people(run_id=run_id) == {"P1", "P2"}  # subject access sees a possible disclosure
    assert store.confirm_disclosures(run_id, out) == 1
    assert bool(store.disclosures(run_id=run_id).loc[0, "published"])
    assert store.settle_disclosures(out) == (0, 0)  # nothing pending any more


def test_settling_confirms_packs_in_the_folder_and_drops_packs_that_never_went_out(store_url, tmp_path):
    store = open_store(store_url)
    out = tmp_path / "out"
    out.mkdir()
    published = _pack(out, "cohort.csv", "the pack that was swapped in\n")
    never = {"partner/cohort.csv": hashlib.sha256(b"a pack left in a temporary folder").hexdigest()}
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    run_id, _ = _save(store, out, [{"audience": "police", "files": published, "person_ids": ["P1"], "by": "a"},
                                   {"audience": "partner", "files": never, "person_ids": ["P9"], "by": "a"}])
    assert store.settle_disclosures(elsewhere) == (0, 0)  # only this folder's packs are settled
    assert store.settle_disclosures(out) == (1, 1)
    log = store.disclosures(run_id=run_id)
    assert log["audience"].tolist() == ["police"] and bool(log.loc[0, "published"])
    assert store.disclosed_people(run_id=run_id) == {"P1"}  # P9's never-sent pack is gone, people too
    assert store.disclosures(person_id="P9").empty


def test_a_store_from_before_pending_packs_gains_the_columns_and_keeps_its_log(tmp_path):
    db = tmp_path / "old.db"
    store = open_store(f"sqlite:///{db}")
    run_id, _ = store.save_run(as_of=AS_OF, manifest=manifest(AS_OF), audit=None, **frames())
    store.log_disclosure(run_id, "police", {"cohort.csv": "0" * 64}, ["P1"], by="a",
                         when=dt.datetime(2026, 10, 1, 9, 0))
    store.engine.dispose()
    conn = sqlite3.connect(db)  # as an older hkc left it: no folder, no published
    conn.execute("ALTER TABLE disclosures DROP COLUMN folder")
    conn.execute("ALTER TABLE disclosures DROP COLUMN published")
    conn.commit()
    conn.close()
    reopened = open_store(f"sqlite:///{db}")
    log = reopened.disclosures()
    assert len(log) == 1 and bool(log.loc[0, "published"]) and log.loc[0, "folder"] is None


def test_a_replacing_run_confirms_only_its_own_folders_packs(store_url, tmp_path):
    """A refresh of D to X dies before its swap; a refresh of D to Y replaces the run and confirms:
    X's pack, never published, must stay pending (and be dropped when X is next refreshed)."""
    store = open_store(store_url)
    x, y = tmp_path / "x", tmp_path / "y"
    x.mkdir()
    y.mkdir()
    never = {"cohort.csv": hashlib.sha256(b"left in x's temporary folder").hexdigest()}
    _save(store, x, [{"audience": "police", "files": never, "person_ids": ["PX"], "by": "a"}])
    published = _pack(y, "cohort.csv", "y's pack\n")
    run_id, replaced = _save(store, y, [{"audience": "police", "files": published, "person_ids": ["PY"], "by": "a"}])
    assert replaced
    assert store.confirm_disclosures(run_id, y) == 1
    assert store.disclosures(person_id="PX")["published"].tolist() == [False]
    assert store.settle_disclosures(x) == (0, 1)
    assert store.disclosures(person_id="PX").empty and store.disclosed_people(run_id=run_id) == {"PY"}
