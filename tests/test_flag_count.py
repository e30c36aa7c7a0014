"""One flag count (issue #16): every output of a refresh states the same number of flags and the same list.

A refresh is run on a synthetic force with a planted intelligence bias, so there are flags in several
sections; then the terminal summary, ``run.json``, both ``audit.json`` copies, both audit pages, the
police and partner packs (HTML and workbook) and the transparency record are read back, each the way
its reader would, and compared with the one list :func:`hkc.audit.flag_list` builds.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from openpyxl import load_workbook

from hkc.audit import flag_list, flag_summary, suppress_small_cells
from hkc.audit.flags import redact_flags
from hkc.definitions import refresh_audit_spec
from hkc.history import open_store
from hkc.refresh import run_refresh
from hkc.report_text import refresh_summary
from hkc.synth import generate_force, write_force
from hkc.transparency import transparency_record
from tests.builders import offline_definitions

AS_OF = dt.date(2026, 9, 30)


class _Text(HTMLParser):
    """The visible text of a page, and the items of the ordered list under a heading with a given id."""

    def __init__(self, list_after: str):
        super().__init__()
        self.text: list[str] = []
        self.items: list[str] = []
        self._after, self._armed, self._in_list, self._item = list_after, False, False, None

    def handle_starttag(self, tag, attrs):
        if dict(attrs).get("id") == self._after:
            self._armed = True
        if tag == "ol" and self._armed and not self._in_list and not self.items:
            self._in_list = True
        if tag == "li" and self._in_list:
            self._item = []

    def handle_endtag(self, tag):
        if tag == "li" and self._item is not None:
            self.items.append(" ".join("".join(self._item).split()))
            self._item = None
        if tag == "ol" and self._in_list:
            self._in_list, self._armed = False, False

    def handle_data(self, data):
        self.text.append(data)
        if self._item is not None:
            self._item.append(data)


def _page(path: Path, list_after: str) -> tuple[str, list[str]]:
    parser = _Text(list_after)
    parser.feed(path.read_text(encoding="utf-8"))
    return " ".join(" ".join(parser.text).split()), parser.items


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flags")
    definitions = offline_definitions()
    force = generate_force(people=12000, seed=1, until=AS_OF, intel_bias={"Black": 3.0},
                           catalogue=definitions.catalogue)
    write_force(force, tmp / "extract")
    url = f"sqlite:///{tmp / 'h.db'}"
    result = run_refresh(tmp / "extract", as_of=AS_OF, out=tmp / "out", definitions=definitions, db_url=url,
                         partner_pack="yes", demo_key=True)
    return result, definitions, url


def test_the_audit_flags_in_more_than_one_section(run):
    result, _, _ = run
    sections = {f["section"] for f in result.audit["flags"]}
    assert len(result.audit["flags"]) >= 3 and len(sections) >= 2, sections


def test_the_flag_list_is_what_flag_list_builds_from_the_audit(run):
    result, _, _ = run
    assert result.audit["flags"] == flag_list(result.audit)


def test_every_output_states_the_same_count_and_the_same_list(run):
    result, definitions, url = run
    out = result.out
    police = result.audit["flags"]
    n = len(police)
    partner_json = json.loads((out / "partner" / "audit" / "audit.json").read_text())
    partner = partner_json["flags"]
    assert len(partner) == n
    assert [(f["section"], f["metric"]) for f in partner] == [(f["section"], f["metric"]) for f in police]
    words = [f["text"] for f in partner]

    # the terminal
    terminal = refresh_summary(result, preview=0)
    assert flag_summary(police) in terminal and re.search(rf"\b{n} flags\b", terminal)
    # run.json
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["audit"]["flags"] == n and manifest["audit"]["flagged"] == words
    assert manifest["audit"]["summary"] == flag_summary(police)
    # audit.json, auditor's copy
    assert len(json.loads((out / "audit" / "audit.json").read_text())["flags"]) == n
    # both audit pages: the heading and the list under it
    for page, expected in ((out / "audit" / "audit.html", [f["text"] for f in police]),
                           (out / "partner" / "audit" / "audit.html", words)):
        text, items = _page(page, "flags")
        assert f"Flags: {n}" in text
        assert [i.split(": ", 1)[1] for i in items] == [" ".join(e.split()) for e in expected]
    # both packs: the first-page line and the appendix list
    for pack in (out / "cohort.html", out / "partner" / "cohort.html"):
        text, items = _page(pack, "flags")
        assert f"Fairness audit of this list: {flag_summary(police)[0].upper()}{flag_summary(police)[1:]}" in text
        assert f"Fairness audit flags ({n})" in text
        assert items == [" ".join(w.split()) for w in words]
    # the workbooks' run sheets
    for book, sheet in ((out / "cohort.xlsx", "Run"), (out / "partner" / "cohort.xlsx", None)):
        wb = load_workbook(book, read_only=True)
        ws = wb[sheet] if sheet else wb[[s for s in wb.sheetnames if s.lower().startswith("about")][0]]
        rows = {r[0]: r[1] for r in ws.iter_rows(values_only=True) if r and r[0]}
        assert [rows[f"Flag {i}"] for i in range(1, n + 1)] == words and f"Flag {n + 1}" not in rows
        assert rows["Fairness audit"].startswith(flag_summary(police)[0].upper())
    # the transparency record, from the stored run
    store = open_store(url)
    stored = store.find_run(AS_OF)
    record = transparency_record(definitions=definitions, manifest=store.manifest(stored.run_id),
                                 audit=store.audit(stored.run_id), audit_spec=refresh_audit_spec(definitions))
    assert f"Flags: {n}" in record
    flag_part = record.split(f"Flags: {n}", 1)[1].split("\n#", 1)[0]
    assert [line[2:].replace("\\", "") for line in flag_part.splitlines() if line.startswith("- ")] == words


def test_a_flag_on_a_withheld_group_keeps_its_place_without_its_figures():
    flags = [{"section": "selection", "attribute": "ethnicity", "group": "Other", "reference": "White",
              "metric": "selection_rate", "ratio": 4.0, "ci": [1.5, 9.0], "small": False, "text": "Other people …"},
             {"section": "selection", "attribute": "sex", "group": "F", "reference": "M",
              "metric": "selection_rate", "ratio": 0.1, "ci": [0.01, 0.5], "small": False, "text": "females …"}]
    redacted = redact_flags(flags, {"ethnicity": ["Other"]})
    assert len(redacted) == 2 and redacted[1] == flags[1]
    hidden = redacted[0]
    assert hidden["withheld"] is True and hidden["ratio"] is None and "Other" not in json.dumps(hidden)


def test_the_partner_copy_of_an_audit_keeps_the_count(run):
    result, _, _ = run
    for threshold in (10, 50, 500):  # more and more groups withheld: the count never changes
        copy = suppress_small_cells(result.audit, threshold=threshold)
        assert len(copy["flags"]) == len(result.audit["flags"])


def test_every_pack_and_the_transparency_record_say_the_chance_line_of_run_json(run):
    result, definitions, url = run
    manifest = json.loads((result.out / "run.json").read_text())
    line = manifest["chance"]["sentence"]
    assert manifest["chance"]["available"] and "random draw" in line
    for pack in (result.out / "cohort.html", result.out / "partner" / "cohort.html"):
        text, _ = _page(pack, "flags")
        assert f"Against chance: {' '.join(line.split())}" in text
        html = pack.read_text(encoding="utf-8")
        assert html.index('class="checks"') < html.index("<table")  # on the first page, above every table
    assert line in result.audit["findings"]
    store = open_store(url)
    stored = store.find_run(AS_OF)
    record = transparency_record(definitions=definitions, manifest=store.manifest(stored.run_id),
                                 audit=store.audit(stored.run_id), audit_spec=refresh_audit_spec(definitions))
    assert "The list against chance" in record and " ".join(line.split()[:12]) in " ".join(record.split())


@pytest.mark.parametrize("too_small", [False, True])
def test_a_list_not_shown_to_beat_chance_is_one_more_flag(too_small):
    chance = {"available": True, "no_better_than_chance": True, "too_small": too_small,
              "difference": {"estimate": -0.06, "ci": [-0.2, 0.08]}, "pooled": {"listed": 12 if too_small else 200},
              "sentence": "…"}
    base = {"attributes": {}, "thresholds": {"confidence": 0.95}}
    assert flag_list(base) == []
    flags = flag_list(base | {"chance": chance})
    assert len(flags) == 1 and flags[0]["section"] == "chance"
    assert ("too few listings (12" in flags[0]["text"]) is too_small
    assert ("-6.0 percentage points" in flags[0]["text"]) is (not too_small)
    assert flag_list(base | {"chance": chance | {"no_better_than_chance": False}}) == []


def test_hkc_audit_of_a_file_prints_the_count_its_page_and_json_show(tmp_path):
    from click.testing import CliRunner

    from cli import main

    out = tmp_path / "compas"
    data = Path(__file__).parent / "data" / "compas" / "compas-scores-two-years.csv.gz"
    result = CliRunner().invoke(main, ["audit", "--input", str(data), "--score", "decile_score", "--threshold", "5",
                                       "--outcome", "two_year_recid", "--by", "race", "--reference", "race=Caucasian",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    n = len(json.loads((out / "audit.json").read_text())["flags"])
    assert n > 0 and re.search(rf"^{n} flags?: ", result.output, re.M)
    text, items = _page(out / "audit.html", "flags")
    assert f"Flags: {n}" in text and len(items) == n


def test_the_partner_audit_copy_shows_no_score_figure(run):
    result, _, _ = run
    folder = result.out / "partner" / "audit"
    for path in [folder / "audit.json", folder / "audit.html", *folder.glob("*.csv")]:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else None
        if data is not None:
            for a in data["attributes"].values():
                for g in a["groups"]:
                    assert g.get("mean_score") in (None, "withheld") and g.get("score_quantiles") in (None, "withheld")
    auditor = json.loads((result.out / "audit" / "audit.json").read_text())
    assert any(isinstance(g.get("mean_score"), float) for a in auditor["attributes"].values() for g in a["groups"])
