"""A pack that works at the table (issue 14, item 6): printed on A4 landscape in few pages, readable at a glance.

Two quarters of a synthetic force of 20,000 people (as ``hkc demo`` makes) give a 50-person pack with
a periphery, peer groups, places, removals and 24 fairness flags: the matrix's own functions make
the list, the pack functions write it (a whole refresh also audits, which takes longer than the rest
of this file; the demo's refresh is measured in the issue's closing note).  Its ``cohort.html`` must print to
8 A4 landscape pages or fewer in headless Chromium (before this issue: 71), with the protective
marking and "Page n of N" on every page; its first page holds charts of the RAG split and movement
that agree with the list; the RAG bands tell people apart on every synthetic force tried (the old
fixed thresholds put 43 and 44 of 50 people in amber on seeds 1 and 8); ethnicity is not printed
per person; movement reads the same in every file; workbook numbers are numbers and columns fit.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from hkc.extract.load import load_extract
from hkc.matrix import map_peers, removed_people, score_people, select_cohort
from hkc.messages import MOVEMENT_WORDS
from hkc.partnership import pack_facts, write_html, write_partner_pack, write_xlsx
from hkc.refresh.frames import cohort_frame, rules_text
from hkc.synth import generate_force, write_force
from tests.builders import offline_definitions

Q2, Q3 = dt.date(2026, 6, 30), dt.date(2026, 9, 30)
SEED = 8  # one of the forces where fixed thresholds put 88% of the list in one band
KEY = "pack-print-test-key: 0123456789 abcdefghij KLMNOPQRST"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
MAX_PAGES = 8
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                    reason="chromium is not installed (apt-get install chromium)")


FLAGS = [f"White people (sex M): share of the cohort against their share of resident population (age-matched), "
         f"ratio 2.{n:02d} (95% CI 1.74\u20132.24)" for n in range(12)] + \
        [f"a group by ethnicity*sex too small to show in this copy (selection rate {n})" for n in range(12)]
CHANCE = ("Of the lists the matrix would have made at the last 4 quarter ends whose outcome is known (2024-12-31 to "
          "2025-09-30), 46% [36\u201356%] of 200 listings were recorded as offender or suspect in possession of a "
          "bladed article or knife violence within 365 days; a random draw of the same size from the eligible: 29% "
          "(95% of draws 24\u201334%); the ranking did better than a random draw (+16 percentage points [+9 to +24]).")


def manifest(extract, scored, as_of: dt.date, previous: dt.date) -> dict:
    """A run manifest as the refresh writes it, with the fairness flags and chance line a demo run has."""
    return {"as_of": as_of.isoformat(), "previous_as_of": previous.isoformat(), "finished_at": "2026-10-01T09:00:00",
            "counts": extract.counts, "eligible": int(scored.scores["eligible"].sum()), "scored": len(scored.scores),
            "config_sha256": "c" * 64, "inputs_sha256": "i" * 64, "hkc_version": "test",
            "audit": {"flags": len(FLAGS), "summary": f"{len(FLAGS)} flags", "flagged": FLAGS},
            "chance": {"sentence": CHANCE, "no_better_than_chance": False}}


@pytest.fixture(scope="module")
def packs(tmp_path_factory):
    """The police and partner packs of the second of two quarters, and the frames they were made from."""
    tmp = tmp_path_factory.mktemp("print")
    definitions = offline_definitions()
    s = definitions.settings
    write_force(generate_force(people=20_000, seed=SEED, until=Q3, catalogue=definitions.catalogue), tmp / "data",
                fmt="parquet")
    extract = load_extract(tmp / "data", catalogue=definitions.catalogue, extract_date=Q3)
    listed = {}
    for as_of in (Q2, Q3):
        scored = score_people(extract.people, extract.events, catalogue=definitions.catalogue,
                              eligibility=s.eligibility, as_of=as_of)
        listed[as_of] = scored, select_cohort(scored.scores, cohort=s.cohort, rag=s.rag)
    scored, chosen = listed[Q3]
    before = listed[Q2][1].members[["person_id", "rank", "rag"]]
    members = cohort_frame(scored, chosen.members, before, definitions)
    removed = removed_people(chosen.members, before, scored.scores, chosen.ranked, cohort=s.cohort)
    peers = map_peers(extract, scored, members["person_id"].tolist(), settings=s.peers, places=s.places,
                      catalogue=definitions.catalogue, as_of=Q3)
    run = manifest(extract, scored, Q3, Q2)
    out = tmp / "out"
    out.mkdir()
    edges = peers.edges.rename(columns={"person_a": "source", "person_b": "target"})
    facts = pack_facts(members=members, removed=removed, manifest=run, rules=rules_text(definitions),
                       previous_as_of=Q2, periphery=peers.periphery, peer_groups=peers.peer_groups,
                       places=peers.places, peer_edges=edges, outputs=s.outputs)
    write_html(facts, out / "cohort.html")
    write_xlsx(facts, out / "cohort.xlsx")
    write_partner_pack(out, members=members, removed=removed, manifest=run, settings=s.partner, key=KEY.encode(),
                       peer_groups=peers.peer_groups, periphery=peers.periphery, places=peers.places,
                       peer_edges=edges, all_person_ids=extract.people["person_id"], outputs=s.outputs)
    return {"members": members, "removed": removed, "peers": peers, "manifest": run, "definitions": definitions,
            "out": out}


def print_pdf(html: Path, pdf: Path, profile: Path) -> bytes:
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", f"--print-to-pdf={pdf}", html.resolve().as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert pdf.exists(), "chromium wrote no PDF"
    return pdf.read_bytes()


def pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))


@needs_chromium
@pytest.mark.parametrize("name", ["cohort.html", "partner/cohort.html"])
def test_a_50_person_pack_prints_on_at_most_8_a4_landscape_pages(packs, tmp_path, name):
    assert len(packs["members"]) == 50 and len(packs["peers"].periphery) == 100 and len(packs["removed"]) > 5
    pdf = tmp_path / "pack.pdf"
    data = print_pdf(packs["out"] / name, pdf, tmp_path / "profile")
    assert 2 <= pages(data) <= MAX_PAGES
    width, height = (float(v) for v in re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)", data).groups())
    assert (round(width), round(height)) == (842, 595)  # A4 landscape, in points
    if shutil.which("pdftotext"):  # where poppler is installed: the marking and page number on every page
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
        for n, page in enumerate(text.split("\f")[:pages(data)], start=1):
            assert page.count("OFFICIAL-SENSITIVE") >= 2 and f"Page {n} of {pages(data)}" in page, n


def test_every_page_carries_the_marking_and_a_page_number_in_its_margins(packs):
    for name in ("cohort.html", "partner/cohort.html"):
        html = (packs["out"] / name).read_text()
        page = re.search(r"@page\s*\{(.*?)\n  \}", html, re.S).group(1)
        assert "size: A4 landscape" in page
        for box in ("@top-center", "@bottom-center"):
            assert re.search(box + r'\s*\{\s*content:\s*"OFFICIAL-SENSITIVE"', page), (name, box)
        assert 'content: "Page " counter(page) " of " counter(pages)' in page
        assert '<div class="marking">OFFICIAL-SENSITIVE</div>' in html
        assert "<script" not in html


def test_the_first_page_charts_agree_with_the_list(packs):
    members, removed = packs["members"], packs["removed"]
    html = (packs["out"] / "cohort.html").read_text()
    first = html[:html.index("<h2>Cohort</h2>")]
    rag = members["rag"].value_counts()
    assert f'aria-label="RAG split: red {rag["red"]}, amber {rag["amber"]}, green {rag["green"]}"' in first
    moved = members["movement"].value_counts()
    words = ", ".join(f"{MOVEMENT_WORDS[c]} {moved.get(c, 0)}" for c in ("new", "up", "down", "same"))
    assert f'aria-label="Movement since the last refresh: {words}, removed {len(removed)}"' in first
    assert f"{packs['manifest']['eligible']:,}</b>eligible of 20,000 scored" in first
    assert "Fairness audit of this list:" in first and "Against chance:" in first
    partner = (packs["out"] / "partner" / "cohort.html").read_text()
    assert f'aria-label="RAG split: red {rag["red"]}, amber {rag["amber"]}, green {rag["green"]}"' in partner


def test_print_condenses_the_rationale_and_caps_the_periphery(packs):
    members, peers = packs["members"], packs["peers"]
    outputs = packs["definitions"].settings.outputs
    html = (packs["out"] / "cohort.html").read_text()
    printed = re.findall(r'<span class="print-only">([^<]*)</span></td>', html)
    assert len(printed) == 50
    for text, full in zip(printed, members["rationale"], strict=True):
        parts = full.split("; ")
        assert text.count("; ") == min(outputs.print_drivers, len(parts)) - 1 + (len(parts) > outputs.print_drivers)
        assert " latest " not in text and (len(parts) <= outputs.print_drivers or
                                           text.endswith(f"+{len(parts) - outputs.print_drivers} more"))
    assert all(full in html for full in members["rationale"])  # the full text stays on screen
    cap = outputs.print_periphery
    kinds = peers.periphery["link_type"].value_counts()
    assert html.count('class="print-cut"') == sum(max(0, k - cap) for k in kinds) + max(0, len(peers.places) - cap)


@pytest.mark.parametrize("seed", [1, SEED])
def test_rag_bands_tell_people_apart_on_synthetic_forces(tmp_path, packs, seed):
    definitions = packs["definitions"]
    members = packs["members"]
    if seed != SEED:
        write_force(generate_force(people=20_000, seed=seed, until=Q3, catalogue=definitions.catalogue), tmp_path,
                    fmt="parquet")
        extract = load_extract(tmp_path, catalogue=definitions.catalogue, extract_date=Q3)
        scored = score_people(extract.people, extract.events, catalogue=definitions.catalogue,
                              eligibility=definitions.settings.eligibility, as_of=Q3)
        members = select_cohort(scored.scores, cohort=definitions.settings.cohort,
                                rag=definitions.settings.rag).members
    shares = members["rag"].value_counts(normalize=True)
    assert len(members) == 50 and set(shares.index) == {"red", "amber", "green"}
    assert shares.max() <= 0.8
    red_floor = members.loc[members["rag"] == "red", "risk_score"].min()
    assert (members.loc[members["rag"] != "red", "risk_score"] <= red_floor).all()  # bands follow the ranking


def test_ethnicity_is_not_printed_per_person_in_the_meeting_pack(packs):
    html = (packs["out"] / "cohort.html").read_text()
    assert "<th>Ethnicity</th>" not in html
    ethnicities = set(packs["members"]["ethnicity"].astype(str))
    cells = set(re.findall(r"<td>([^<]*)</td>", html[html.index("<h2>Cohort</h2>"):html.index("<h2>Associates")]))
    assert ethnicities and not ethnicities & cells
    wb = openpyxl.load_workbook(packs["out"] / "cohort.xlsx")
    assert "Ethnicity" not in [c.value for c in wb["Cohort"][1]]


def test_movement_reads_the_same_in_the_html_and_both_workbooks(packs):
    members = packs["members"]
    out = packs["out"]
    expected = [MOVEMENT_WORDS[m] for m in members["movement"]]
    assert len(set(members["movement"])) >= 3
    ws = openpyxl.load_workbook(out / "cohort.xlsx")["Cohort"]
    column = [c.value for c in ws[1]].index("Movement")
    assert [r[column] for r in ws.iter_rows(min_row=2, values_only=True)] == expected
    assert re.findall(r'<td class="mv">([^<]*)</td>', (out / "cohort.html").read_text()) == expected
    partner_csv = pd.read_csv(out / "partner" / "cohort.csv")["movement"].tolist()
    pw = openpyxl.load_workbook(out / "partner" / "cohort.xlsx")["Cohort"]
    column = [c.value for c in pw[1]].index("Movement")
    assert partner_csv == [r[column] for r in pw.iter_rows(min_row=2, values_only=True)] == expected
    assert not [w for w in MOVEMENT_WORDS.values() if w.startswith(("=", "+", "-", "@"))]  # no apostrophe needed


def test_workbooks_store_numbers_as_numbers_in_columns_that_fit(packs):
    out = packs["out"]
    wb = openpyxl.load_workbook(out / "cohort.xlsx")
    kinds = {"Cohort": {"Rank": int, "Risk": (int, float), "Vulnerability": (int, float), "Age": int},
             "Periphery": {"Age": int, "Incidents shared": int},
             "Places": {"Activity": (int, float), "Events": int, "People": int}}
    for sheet, columns in kinds.items():
        ws = wb[sheet]
        headers = [c.value for c in ws[1]]
        for header, kind in columns.items():
            values = [r[headers.index(header)] for r in ws.iter_rows(min_row=2, values_only=True)]
            assert values and all(isinstance(v, kind) for v in values), (sheet, header)
    for path in (out / "cohort.xlsx", out / "partner" / "cohort.xlsx"):
        for ws in openpyxl.load_workbook(path):
            if ws.sheet_state != "visible":
                continue
            for cell in ws[1]:
                width = ws.column_dimensions[cell.column_letter].width
                assert width >= max(len(w) for w in str(cell.value).split()), (path.name, ws.title, cell.value)
                assert cell.alignment.wrap_text or ws.title == "About", (path.name, ws.title, cell.value)
            assert ws.oddHeader.center.text == "OFFICIAL-SENSITIVE" and ws.page_setup.orientation == "landscape"
