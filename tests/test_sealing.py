"""The sealed workbook (issue #11, #17): one MAC over the layout and every locked cell, checked first.

Each attack below was reproduced against the former format, where a locked cell's seal was one row
of the hidden sheet that nothing else covered: deleting a row unsealed its cell, and the import
then stored the meeting's decision against whichever child's pseudonym had been typed there.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hkc.definitions.settings import PartnerSettings
from hkc.history.store import open_store
from hkc.partnership.decisions import DecisionImportError
from hkc.partnership.partner_facts import COLUMNS
from hkc.partnership.partner_pack import CASEWORK_LABELS
from hkc.partnership.pseudonyms import keyed_digest, pseudonym
from hkc.partnership.sealing import (
    META_SHEET,
    NOT_READABLE,
    RECORD_NAMES,
    SEAL_PROBLEMS,
    RowProblem,
    SealError,
    locked_cells,
    open_sealed,
    refusal,
)
from tests.test_decisions import decide, dump, run_import
from tests.test_partner import KEY, Q2, peer_frames, refresh, write_pack

LAYOUT_ROW = RECORD_NAMES.index("layout") + 1
SEAL_ROW = len(RECORD_NAMES) + 1


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """The Q2 refresh and its partner pack, logged as disclosed (built once, copied per test)."""
    folder = tmp_path_factory.mktemp("sealed")
    result = refresh(folder, Q2)
    info = write_pack(result)
    store = open_store(f"sqlite:///{folder / 'history.db'}")
    store.log_disclosure(result.run_id, "partner", info["files"], info["person_ids"], by="analyst")
    store.engine.dispose()
    return folder, result


@pytest.fixture
def pack(tmp_path, logged):
    """(the refresh result, a private copy of the pack's workbook, a private copy of the history)."""
    folder, result = logged
    shutil.copy(folder / "history.db", tmp_path / "history.db")
    xlsx = Path(shutil.copy(result.out / "partner" / "cohort.xlsx", tmp_path / "cohort.xlsx"))
    return result, xlsx, open_store(f"sqlite:///{tmp_path / 'history.db'}")


def label(column: str) -> str:
    return COLUMNS.get(column, (None, column))[1]


def edit(src: Path, dst: Path, change) -> Path:
    """Apply ``change(workbook)`` and save, as a spreadsheet program would."""
    wb = openpyxl.load_workbook(src)
    change(wb)
    wb.save(dst)
    return dst


def seal_rows(ws) -> dict[tuple[str, int], int]:
    """``{(sheet, row): hidden row}`` of the hidden sheet's seal rows."""
    return {(row[1].value, row[2].value): row[0].row for row in ws.iter_rows(min_row=SEAL_ROW + 1)
            if row[0].value == "row"}


def seal_of(wb, sheet: str, coordinate: str) -> tuple[int, int]:
    """(hidden row, position in its digests) of one locked cell's seal."""
    r = openpyxl.utils.cell.coordinate_from_string(coordinate)[1]
    layout = json.loads(wb[META_SHEET][f"B{LAYOUT_ROW}"].value)
    columns = [c for s, row, c in locked_cells(layout) if (s, row) == (sheet, r)]
    return seal_rows(wb[META_SHEET])[(sheet, r)], columns.index(openpyxl.utils.column_index_from_string(
        openpyxl.utils.cell.coordinate_from_string(coordinate)[0]))


def locked_in_row(wb, sheet: str, r: int) -> list[str]:
    return [c.coordinate for c in wb[sheet][r] if c.protection.locked]


def delete_seal_row(wb, sheet: str, r: int) -> None:
    ws = wb[META_SHEET]
    ws.delete_rows(seal_rows(ws)[(sheet, r)])


def cohort_row(wb, person: str) -> int:
    return next(c.row for c in wb["Cohort"]["A"] if c.value == pseudonym(person, KEY))


def refused(store, path: Path, tmp_path: Path) -> DecisionImportError:
    before = dump(tmp_path)
    with pytest.raises(DecisionImportError) as err:
        run_import(store, path)
    assert dump(tmp_path) == before and store.decisions().empty
    assert "\n" not in str(err.value) and str(err.value).endswith("; nothing was imported")
    assert str(err.value) == refusal(path.name, err.value.problems)
    return err.value


def test_a_deleted_seal_row_cannot_carry_a_decline_to_another_child(tmp_path, pack):
    _result, xlsx, store = pack
    other = pseudonym("NOMINAL-10002", KEY)
    r = cohort_row(openpyxl.load_workbook(xlsx), "NOMINAL-10001")

    def attack(wb):  # the meeting declined NOMINAL-10001; the row is made to name another child
        delete_seal_row(wb, "Cohort", r)
        wb["Cohort"][f"A{r}"] = other
        headers = [c.value for c in wb["Cohort"][1]]
        wb["Cohort"].cell(r, headers.index("Decision") + 1).value = "decline"
        wb["Cohort"].cell(r, headers.index("Reason") + 1).value = "moved away"
    bad = edit(xlsx, tmp_path / "attack.xlsx", attack)
    err = refused(store, bad, tmp_path)
    assert err.problems[0] == RowProblem("Cohort", r, "Pseudonym", other, SEAL_PROBLEMS["unsealed"], cell=f"A{r}")
    assert [p.cell for p in err.problems] == locked_in_row(openpyxl.load_workbook(xlsx), "Cohort", r)
    assert {p.problem for p in err.problems} == {SEAL_PROBLEMS["unsealed"]}
    assert str(err).startswith(f"attack.xlsx sheet 'Cohort' cell A{r} (Pseudonym): {SEAL_PROBLEMS['unsealed']} "
                               f"(and {len(err.problems) - 1} more); nothing was imported")


def test_a_deleted_seal_row_alone_is_refused(tmp_path, pack):
    _result, xlsx, store = pack
    err = refused(store, edit(xlsx, tmp_path / "bad.xlsx", lambda wb: delete_seal_row(wb, "Removed", 1)), tmp_path)
    assert [(p.sheet, p.cell, p.problem) for p in err.problems] == [
        ("Removed", c, SEAL_PROBLEMS["unsealed"]) for c in locked_in_row(openpyxl.load_workbook(xlsx), "Removed", 1)]


def test_a_digest_cut_from_a_seal_row_unseals_its_cell_and_one_added_is_refused(tmp_path, pack):
    _result, xlsx, store = pack

    def cut(wb):
        hidden, _k = seal_of(wb, "Cohort", "A2")
        cell = wb[META_SHEET].cell(hidden, 4)
        cell.value = " ".join(cell.value.split()[:-1])
    wb = openpyxl.load_workbook(xlsx)
    last = locked_in_row(wb, "Cohort", 2)[-1]
    err = refused(store, edit(xlsx, tmp_path / "cut.xlsx", cut), tmp_path)
    assert [(p.sheet, p.cell, p.problem) for p in err.problems] == [("Cohort", last, SEAL_PROBLEMS["unsealed"])]
    hidden, _k = seal_of(wb, "Cohort", "A2")

    def pad(wb):
        wb[META_SHEET].cell(hidden, 4).value += " 0123456789abcdef"
    err = refused(store, edit(xlsx, tmp_path / "pad.xlsx", pad), tmp_path)
    assert err.problems == [RowProblem(META_SHEET, hidden, None, "", SEAL_PROBLEMS["record"], cell=f"D{hidden}")]


def test_every_locked_cell_is_named_when_every_seal_row_is_deleted(tmp_path, pack):
    _result, xlsx, store = pack

    def strip(wb):
        wb[META_SHEET].delete_rows(SEAL_ROW + 1, wb[META_SHEET].max_row)
        wb["Cohort"]["C2"] = "green"
    err = refused(store, edit(xlsx, tmp_path / "bad.xlsx", strip), tmp_path)
    wb = openpyxl.load_workbook(xlsx)  # the locked cells counted a second way: from the sheets' protection
    locked = [(ws.title, c.coordinate) for ws in wb if ws.title != META_SHEET for row in ws.iter_rows()
              for c in row if c.protection.locked]
    assert [(p.sheet, p.cell) for p in err.problems] == locked
    assert {p.problem for p in err.problems} == {SEAL_PROBLEMS["unsealed"]}
    assert str(err).startswith(f"bad.xlsx sheet 'Cohort' cell A1 (Pseudonym): {SEAL_PROBLEMS['unsealed']} "
                               f"(and {len(locked) - 1} more)")


def test_a_pseudonym_moved_to_another_row_is_refused_naming_both_cells(tmp_path, pack):
    _result, xlsx, store = pack
    a2, a3 = (openpyxl.load_workbook(xlsx)["Cohort"][c].value for c in ("A2", "A3"))

    def swap(wb):
        wb["Cohort"]["A2"], wb["Cohort"]["A3"] = a3, a2
    bad = decide(edit(xlsx, tmp_path / "moved.xlsx", swap), tmp_path / "bad.xlsx",
                 {"NOMINAL-10001": ("decline", "not ours")})
    err = refused(store, bad, tmp_path)
    assert err.problems == [RowProblem("Cohort", 2, "Pseudonym", a3, SEAL_PROBLEMS["changed"], cell="A2"),
                            RowProblem("Cohort", 3, "Pseudonym", a2, SEAL_PROBLEMS["changed"], cell="A3")]


def test_an_edited_rag_cell_is_refused_naming_the_cell(tmp_path, pack):
    _result, xlsx, store = pack
    wb = openpyxl.load_workbook(xlsx)
    column = [c.value for c in wb["Cohort"][1]].index("RAG") + 1
    cell = f"{openpyxl.utils.get_column_letter(column)}2"
    new = "green" if wb["Cohort"][cell].value != "green" else "red"
    err = refused(store, edit(xlsx, tmp_path / "rag.xlsx", lambda wb: wb["Cohort"].__setitem__(cell, new)), tmp_path)
    assert err.problems == [RowProblem("Cohort", 2, "RAG", new, SEAL_PROBLEMS["changed"], cell=cell)]
    assert str(err) == f"rag.xlsx sheet 'Cohort' cell {cell} (RAG): {SEAL_PROBLEMS['changed']}; nothing was imported"


def test_an_edited_hidden_layout_is_refused_naming_its_cell(tmp_path, pack):
    _result, xlsx, store = pack

    def unlock_pseudonyms(wb):
        layout = json.loads(wb[META_SHEET][f"B{LAYOUT_ROW}"].value)
        layout["Cohort"]["editable"].append("pseudonym")
        wb[META_SHEET][f"B{LAYOUT_ROW}"] = json.dumps(layout)
        wb["Cohort"]["A2"] = pseudonym("NOMINAL-10003", KEY)
    err = refused(store, edit(xlsx, tmp_path / "layout.xlsx", unlock_pseudonyms), tmp_path)
    assert err.problems == [RowProblem(META_SHEET, LAYOUT_ROW, None, "", SEAL_PROBLEMS["record"],
                                       cell=f"B{LAYOUT_ROW}")]


def test_a_cell_and_its_seal_copied_from_another_pack_of_the_run_break_the_one_mac(tmp_path, pack):
    """Cell digests bind run, sheet and coordinate, not the layout: only the one MAC ties them together."""
    result, xlsx, store = pack
    write_pack(result, tmp_path / "narrow", settings=PartnerSettings(fields=("pseudonym", "rag", "decision")),
               peers=peer_frames())
    mine, other = openpyxl.load_workbook(xlsx), openpyxl.load_workbook(tmp_path / "narrow" / "partner" / "cohort.xlsx")
    cell = next(c.coordinate for c in mine["Cohort"][2]
                if c.protection.locked and other["Cohort"][c.coordinate].protection.locked
                and other["Cohort"][c.coordinate].value != c.value)
    hidden, k = seal_of(other, "Cohort", cell)
    value, digest = other["Cohort"][cell].value, other[META_SHEET].cell(hidden, 4).value.split()[k]

    def graft(wb):
        wb["Cohort"][cell] = value
        hidden, k = seal_of(wb, "Cohort", cell)
        digests = wb[META_SHEET].cell(hidden, 4).value.split()
        digests[k] = digest
        wb[META_SHEET].cell(hidden, 4).value = " ".join(digests)
    err = refused(store, edit(xlsx, tmp_path / "graft.xlsx", graft), tmp_path)
    assert err.problems == [RowProblem(META_SHEET, SEAL_ROW, None, "", SEAL_PROBLEMS["seal"], cell=f"B{SEAL_ROW}")]


def test_a_seal_row_added_to_the_hidden_sheet_is_refused(tmp_path, pack):
    _result, xlsx, store = pack

    def add(wb):
        ws = wb[META_SHEET]
        ws.append(["row", "Cohort", 99, keyed_digest(b"not the key" * 4, "Z99")])
    err = refused(store, edit(xlsx, tmp_path / "bad.xlsx", add), tmp_path)
    row = openpyxl.load_workbook(tmp_path / "bad.xlsx")[META_SHEET].max_row
    assert err.problems == [RowProblem(META_SHEET, row, None, "", SEAL_PROBLEMS["record"], cell=f"A{row}")]


def test_decision_reason_and_casework_cells_are_the_only_ones_outside_the_seal(tmp_path, pack):
    _result, xlsx, _store = pack
    filled = decide(xlsx, tmp_path / "filled.xlsx", {"NOMINAL-10001": ("adopt", "fine"),
                                                      "NOMINAL-10004": ("refer", "early help")})
    sealed = open_sealed(filled, key=KEY)
    assert sealed.record["as_of"] == Q2.isoformat() and set(sealed.layout) == {
        "Cohort", "Periphery", "Peer groups", "Places", "Removed", "About"}
    wb = openpyxl.load_workbook(xlsx)
    unlocked = {(ws.title, c.coordinate) for ws in wb for row in ws.iter_rows() for c in row
                if not c.protection.locked}
    assert unlocked and {label(sealed.layout[s]["columns"][openpyxl.utils.cell.column_index_from_string(
        openpyxl.utils.cell.coordinate_from_string(c)[0]) - 1]) for s, c in unlocked} == {
        "Decision", "Reason", *CASEWORK_LABELS.values()}
    locked = {(s, f"{openpyxl.utils.get_column_letter(c)}{r}") for s, r, c in locked_cells(sealed.layout)}
    assert not locked & unlocked


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_edit_to_any_locked_cell_is_refused_naming_that_cell(logged, data):
    _folder, result = logged
    xlsx = result.out / "partner" / "cohort.xlsx"
    layout = open_sealed(xlsx, key=KEY).layout
    sheet, r, c = data.draw(st.sampled_from(list(locked_cells(layout))), label="cell")
    wb = openpyxl.load_workbook(xlsx)
    old = wb[sheet].cell(r, c).value
    new = data.draw(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
                            max_size=20).filter(lambda t: t.replace("\r", "\n") != str(old)), label="new value")
    wb[sheet].cell(r, c).value = new
    with tempfile.TemporaryDirectory() as tmp:
        wb.save(Path(tmp) / "edited.xlsx")
        with pytest.raises(SealError) as err:
            open_sealed(Path(tmp) / "edited.xlsx", key=KEY)
    coordinate = f"{openpyxl.utils.get_column_letter(c)}{r}"
    assert [(p.sheet, p.cell, p.problem) for p in err.value.problems] == [(sheet, coordinate,
                                                                           SEAL_PROBLEMS["changed"])]


# -- damaged files ------------------------------------------------------------------------------------
def _rezip(data: bytes, change) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, change(name, src.read(name)))
    return out.getvalue()


def damaged(good: bytes) -> dict[str, bytes]:
    return {
        "truncated zip": good[: len(good) // 2],
        "random bytes": bytes(range(256)) * 40,
        "empty file": b"",
        "broken XML inside the zip": _rezip(good, lambda n, d: d[: len(d) // 2] if n == "xl/workbook.xml" else d),
        "damaged deflate stream": good[:900] + bytes(b ^ 0x5A for b in good[900:1000]) + good[1000:],
    }


@pytest.mark.parametrize("case", ["truncated zip", "random bytes", "empty file", "broken XML inside the zip",
                                  "damaged deflate stream"])
def test_a_damaged_workbook_is_one_sealerror_saying_it_is_unreadable(tmp_path, logged, case):
    _folder, result = logged
    path = tmp_path / "cohort.xlsx"
    path.write_bytes(damaged((result.out / "partner" / "cohort.xlsx").read_bytes())[case])
    with pytest.raises(SealError) as err:
        open_sealed(path, key=KEY)
    prefix = NOT_READABLE.split("(")[0].format(path=path)
    assert str(err.value).startswith(prefix) and "\n" not in str(err.value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=6))
def test_a_workbook_with_any_bytes_flipped_is_refused_as_a_sealerror_or_opens_intact(logged, flips):
    _folder, result = logged
    data = bytearray((result.out / "partner" / "cohort.xlsx").read_bytes())
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cohort.xlsx"
        path.write_bytes(bytes(data))
        try:
            sealed = open_sealed(path, key=KEY)
        except SealError as err:
            assert "\n" not in str(err)
            return
    original = open_sealed(result.out / "partner" / "cohort.xlsx", key=KEY)
    assert (sealed.record, sealed.layout) == (original.record, original.layout)
    for sheet, r, c in locked_cells(original.layout):
        assert sealed.workbook[sheet].cell(r, c).value == original.workbook[sheet].cell(r, c).value
