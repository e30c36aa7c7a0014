"""Each periphery link says its role (issue 14, item 4): co-offending links and victim or witness links apart.

People linked only as a victim or witness are "possibly at risk from cohort members" (a safeguarding
entry), never under an associates heading — the pattern the ICO criticised in the Gangs Matrix.
Planted people with known roles must land in the right kind; a random extract's kinds are computed a
second way, by brute force over its events; and the packs (police and partner) must show them apart.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import defaultdict
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from hkc.definitions.settings import PartnerSettings
from hkc.extract.load import load_extract
from hkc.matrix.peers import PERIPHERY_COLUMNS, map_peers
from hkc.matrix.scoring import score_people
from hkc.partnership.partner_pack import write_partner_pack
from hkc.partnership.pseudonyms import pseudonym
from hkc.refresh import run_refresh
from tests.builders import ExtractBuilder, offline_definitions

AS_OF = dt.date(2026, 9, 30)
DEFS = offline_definitions()
KEY = "periphery-roles-test-key: 0123456789 abcdefghij KLMNOP"


def planted() -> ExtractBuilder:
    """Two cohort carriers and the people around them, each linked in one known way.

    CO: offender beside C1 (co-offending); VIC: knife victim of C1; WIT: witness to C2's violence;
    MIX: victim of C1 once, then co-offender with C2 (co-offending wins); BOTHV: victim beside C1
    who was a victim too (victim only: at risk); SUBJ: a missing-person subject in C2's incident (other);
    HARM: offender against C1 as the victim (other: not co-offending, not a victim).
    """
    b = ExtractBuilder(AS_OF)
    for pid, age in (("C1", 16), ("C2", 15), ("CO", 15), ("VIC", 14), ("WIT", 13), ("MIX", 16), ("BOTHV", 15),
                     ("SUBJ", 14), ("HARM", 17)):
        b.person(pid, age=age)
    b.event("C1", "knife_possession", days_ago=20, outcome="convicted")
    b.event("C2", "knife_violence", days_ago=30, outcome="convicted")
    b.event("C1", "violence", days_ago=40, occurrence_id="O-CO").event("CO", "violence", days_ago=40,
                                                                        occurrence_id="O-CO", role="suspect")
    b.event("C1", "knife_violence", days_ago=50, occurrence_id="O-VIC", outcome="charged")
    b.event("VIC", "knife_victim", days_ago=50, occurrence_id="O-VIC")
    b.event("C2", "violence", days_ago=60, occurrence_id="O-WIT").event("WIT", "violence", days_ago=60,
                                                                        occurrence_id="O-WIT", role="witness")
    b.event("C1", "robbery", days_ago=70, occurrence_id="O-MIX1").event("MIX", "robbery", days_ago=70,
                                                                         occurrence_id="O-MIX1", role="victim")
    b.event("C2", "drug_supply", days_ago=80, occurrence_id="O-MIX2").event("MIX", "drug_supply", days_ago=80,
                                                                             occurrence_id="O-MIX2")
    b.event("C1", "knife_victim", days_ago=90, occurrence_id="O-BV").event("BOTHV", "knife_victim", days_ago=90,
                                                                            occurrence_id="O-BV")
    b.event("C2", "violence", days_ago=100, occurrence_id="O-SUB").event("SUBJ", "missing_episode", days_ago=100,
                                                                          occurrence_id="O-SUB")
    b.event("C1", "knife_victim", days_ago=110, occurrence_id="O-HARM").event("HARM", "violence", days_ago=110,
                                                                               occurrence_id="O-HARM")
    return b


EXPECTED = {"CO": "co_offending", "VIC": "at_risk", "WIT": "at_risk", "MIX": "co_offending", "BOTHV": "at_risk",
            "SUBJ": "other", "HARM": "other"}


def peer_map_of(b: ExtractBuilder, cohort: list[str], folder: Path):
    extract = load_extract(b.write(folder), catalogue=DEFS.catalogue, extract_date=AS_OF)
    scored = score_people(extract.people, extract.events, catalogue=DEFS.catalogue,
                          eligibility=DEFS.settings.eligibility, as_of=AS_OF)
    return extract, map_peers(extract, scored, cohort, settings=DEFS.settings.peers, places=DEFS.settings.places,
                              catalogue=DEFS.catalogue, as_of=AS_OF)


def test_each_planted_person_gets_the_kind_of_link_their_roles_give(tmp_path):
    _, peers = peer_map_of(planted(), ["C1", "C2"], tmp_path)
    periphery = peers.periphery.set_index("person_id")
    assert list(peers.periphery.columns) == PERIPHERY_COLUMNS
    assert periphery["link_type"].to_dict() == EXPECTED
    assert periphery.loc["MIX", ["co_offending_incidents", "victim_witness_incidents", "other_incidents"]].tolist() \
        == [1, 1, 0]
    reasons = periphery["reason"].to_dict()
    assert reasons["CO"].startswith("co-offending or co-suspect with 1 cohort member in 1 incident in August 2026")
    assert reasons["VIC"].startswith("victim or witness in 1 incident involving 1 cohort member in August 2026")
    assert reasons["MIX"].startswith("co-offending or co-suspect with 1 cohort member in 1 incident in July 2026; "
                                     "victim or witness in 1 incident involving 1 cohort member in July 2026")
    assert reasons["SUBJ"].startswith("co-involved in other roles with 1 cohort member in 1 incident")
    for person, kind in EXPECTED.items():  # nobody linked only as a victim or witness is called a co-offender
        assert ("co-offending" in reasons[person]) == (kind == "co_offending"), person


def brute_force_kinds(events: pd.DataFrame, cohort: set[str]) -> dict[str, tuple[str, int, int, int]]:
    """Link type and incident counts per periphery person, from the events by plain loops (the rule in words:
    co-offending when both were offender or suspect; victim or witness when the person was only that)."""
    roles: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for occ, person, role in zip(events["occurrence_id"], events["person_id"], events["role"], strict=True):
        if occ:
            roles[occ][person].add(role)
    kinds: dict[str, dict[str, int]] = defaultdict(lambda: {"co": 0, "vw": 0, "other": 0})
    for people in roles.values():
        members = [p for p in people if p in cohort]
        for person, mine in people.items():
            if person in cohort or not members:
                continue
            offends = bool(mine & {"offender", "suspect"})
            if offends and any(people[m] & {"offender", "suspect"} for m in members):
                kinds[person]["co"] += 1
            elif mine & {"victim", "witness"} and not offends:
                kinds[person]["vw"] += 1
            else:
                kinds[person]["other"] += 1
    out = {}
    for person, k in kinds.items():
        kind = "co_offending" if k["co"] else "at_risk" if k["vw"] else "other"
        out[person] = (kind, k["co"], k["vw"], k["other"])
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_link_kinds_agree_with_a_brute_force_count_over_random_incidents(tmp_path, seed):
    rng = random.Random(seed)
    b = ExtractBuilder(AS_OF)
    people = [f"P{i:02d}" for i in range(40)]
    for p in people:
        b.person(p, age=rng.randint(11, 25))
    roles = ["offender", "suspect", "victim", "witness", "subject"]
    for n in range(70):
        for p in rng.sample(people, rng.randint(2, 4)):
            role = rng.choice(roles)
            b.event(p, "violence" if role != "subject" else "missing_episode", days_ago=rng.randint(0, 700),
                    occurrence_id=f"O{n}", role=role)
    cohort = set(people[:6])
    extract, peers = peer_map_of(b, sorted(cohort), tmp_path)
    ev = extract.events.assign(occurrence_id=extract.events["occurrence_id"].fillna("").astype(str),
                               role=extract.events["role"].astype(str))
    expected = brute_force_kinds(ev, cohort)
    got = {r.person_id: (r.link_type, r.co_offending_incidents, r.victim_witness_incidents, r.other_incidents)
           for r in peers.periphery.itertuples()}
    assert len(got) >= 20 and {k for k, *_ in got.values()} == {"co_offending", "at_risk", "other"}
    assert got == expected


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("roles")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(DEFS.settings.partner.key_variable, KEY)
        result = run_refresh(planted().write(tmp / "data"), as_of=AS_OF, out=tmp / "out", definitions=DEFS,
                             db_url=f"sqlite:///{tmp / 'h.db'}", extract_date=AS_OF, partner_pack="yes")
    return result


def sections(html: str) -> dict[str, str]:
    """The text under each ``<h2>`` heading (markup stripped), by heading."""
    parts = re.split(r"<h2[^>]*>(.*?)</h2>", html, flags=re.S)
    return {re.sub(r"<[^>]+>", "", parts[i]).strip(): re.sub(r"<[^>]+>", " ", parts[i + 1])
            for i in range(1, len(parts) - 1, 2)}


def test_the_police_pack_lists_victims_for_safeguarding_never_as_associates(refreshed):
    assert list(refreshed.members["person_id"]) == ["C1", "C2"]
    html = sections((refreshed.out / "cohort.html").read_text())
    associates = next(text for title, text in html.items() if "Associates" in title)
    at_risk = html["Possibly at risk from cohort members (safeguarding)"]
    other = next(text for title, text in html.items() if title.startswith("Other co-involvement"))
    for person, kind in EXPECTED.items():
        where = {"co_offending": associates, "at_risk": at_risk, "other": other}[kind]
        assert re.search(rf"\b{person}\b", where), person
        for text in {associates, at_risk, other} - {where}:
            assert not re.search(rf"\b{person}\b", text), person
    sheet = openpyxl.load_workbook(refreshed.out / "cohort.xlsx")["Periphery"]
    linked_as = {r[0]: r[2] for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert linked_as == {p: {"co_offending": "co-offender or co-suspect", "at_risk": "victim or witness",
                             "other": "other roles"}[k] for p, k in EXPECTED.items()}
    csv = pd.read_csv(refreshed.out / "periphery.csv").set_index("person_id")
    assert csv["link_type"].to_dict() == EXPECTED  # periphery.csv keeps every earlier column and adds the kinds


def test_the_partner_pack_shows_co_offending_and_safeguarding_only_with_roles(refreshed):
    out = refreshed.out / "partner"
    wb = openpyxl.load_workbook(out / "cohort.xlsx")
    assert wb.sheetnames[:3] == ["Cohort", "Periphery", "Safeguarding"]
    rows = {name: {r[0]: dict(zip([c.value for c in wb[name][1]], r, strict=True))
                   for r in wb[name].iter_rows(min_row=2, values_only=True)} for name in ("Periphery", "Safeguarding")}
    ps = {p: pseudonym(p, KEY.encode()) for p in EXPECTED}
    assert set(rows["Periphery"]) == {ps["CO"], ps["MIX"]}
    assert set(rows["Safeguarding"]) == {ps["VIC"], ps["WIT"], ps["BOTHV"]}
    assert {r["Linked as"] for r in rows["Safeguarding"].values()} == {"victim or witness only"}
    assert all("victim or witness in 1 incident" in r["Link to the cohort"] for r in rows["Safeguarding"].values())
    everything = "".join(p.read_text(errors="replace") for p in out.glob("cohort.*") if p.suffix != ".xlsx")
    for hidden in ("SUBJ", "HARM"):  # link type "other" is not shared by default
        assert ps[hidden] not in everything and hidden not in refreshed.partner["person_ids"]
    html = sections((out / "cohort.html").read_text())
    assert not [t for t in html if "associate" in t.lower()]  # no associates heading at all for partners
    assert all(ps[p] not in html["Periphery: co-offending or co-suspect links, not on the list"]
               for p in ("VIC", "WIT", "BOTHV"))


def test_other_links_go_to_partners_only_when_the_settings_allow_them(tmp_path, refreshed):
    settings = PartnerSettings(link_types=("co_offending", "at_risk", "other"))
    info = write_partner_pack(tmp_path, members=refreshed.members, removed=refreshed.removed,
                              manifest=refreshed.manifest, settings=settings, key=KEY.encode(),
                              periphery=refreshed.peers.periphery, peer_groups=refreshed.peers.peer_groups)
    assert {"SUBJ", "HARM"} <= set(info["person_ids"])
    rows = list(openpyxl.load_workbook(tmp_path / "partner" / "cohort.xlsx")["Periphery"].iter_rows(values_only=True))
    assert {r[0] for r in rows[1:] if r[rows[0].index("Linked as")] == "other roles"} == \
        {pseudonym("SUBJ", KEY.encode()), pseudonym("HARM", KEY.encode())}
    assert "co-offending and other links" in (tmp_path / "partner" / "cohort.html").read_text()
