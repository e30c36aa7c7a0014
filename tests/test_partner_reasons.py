"""Partners get bands, never scores: no reason that reaches a partner file names a score or points.

The police view's reasons name the amount ("risk score 20 is 5 points below the minimum 25", the
cohort cut-off with the score's gap); removed.csv and scores.parquet keep them.  The partner
pack keeps the rule in words.  Expected partner wording is written out here, per template, not
derived from the code under test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import string
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from hkc.matrix import CUT_OFF, format_points
from hkc.matrix.scoring import REASONS
from hkc.partnership.partner_facts import partner_reason
from hkc.partnership.pseudonyms import pseudonym
from hkc.refresh import run_refresh
from tests.builders import ExtractBuilder, offline_definitions

Q2 = dt.date(2026, 6, 30)
Q3 = dt.date(2026, 9, 30)
KEY = "partner-reasons-test-key: 0123456789 abcdefghij KLMNOP"
SCORE_IN_TEXT = re.compile(r"\bscores?\s+(?:is\s+|of\s+)?-?\d|\d(?:\.\d+)?\s*(?:points?|pts)\b", re.IGNORECASE)

# The police view's templates that carry a score, and what partners read instead.
SCORED_TEMPLATES = {
    ("REASONS", "low_score"): "risk score below the minimum for listing",
    ("REASONS", "vulnerability_only"): "vulnerability only: no risk event counts",
    ("CUT_OFF", "score"): "still eligible but below the cohort cut-off (risk score below the cohort minimum)",
}
# Reworded without a score: the rank of someone not listed is dropped (the Removed sheet has no rank).
REWORDED = {("CUT_OFF", "rank"): "still eligible but below the cohort cut-off (cohort is top {size})"}


def filled(template: str) -> tuple[str, dict]:
    """``template`` with every field given a number (as the matrix formats them), and those numbers."""
    names = [f for _lit, f, _spec, _conv in string.Formatter().parse(template) if f]
    values = {name: format_points(17 + 3 * i) for i, name in enumerate(names)}
    return template.format(**values), values


def every_template() -> list[tuple[tuple[str, str], str]]:
    return [(("REASONS", k), t) for k, t in REASONS.items()] + [(("CUT_OFF", k), t) for k, t in CUT_OFF.items()]


@pytest.mark.parametrize(("name", "template"), every_template(), ids=lambda v: "-".join(v) if isinstance(v, tuple)
                         else None)
def test_every_police_reason_reaches_partners_without_a_score(name, template):
    police, values = filled(template)
    if name in SCORED_TEMPLATES:
        assert SCORE_IN_TEXT.search(police), f"{name} carries a score in the police view"
        assert partner_reason(police) == SCORED_TEMPLATES[name].format(**values)
    elif name in REWORDED:
        assert not SCORE_IN_TEXT.search(police)
        assert partner_reason(police) == REWORDED[name].format(**values)
    else:  # no score: the partner reads exactly what the police view says
        assert not SCORE_IN_TEXT.search(police), f"{name} names a score: add it to SCORED_TEMPLATES"
        assert partner_reason(police) == police


def test_a_periphery_link_keeps_the_vulnerability_but_not_its_score():
    link = "co-involved with 1 cohort member in 2 incidents since May 2026; a child (age 14); vulnerability score 12.5"
    assert partner_reason(link) == ("co-involved with 1 cohort member in 2 incidents since May 2026; a child (age 14); "
                                    "vulnerability recorded")


def test_an_unknown_text_naming_a_score_is_withheld_whole():
    assert partner_reason("risk score 12.5 (manual note)") == \
        "does not meet the listing rules (the police view gives the detail)"
    assert partner_reason("age 18 is 1 year above the maximum age 17 at the as-of date") == \
        "age 18 is 1 year above the maximum age 17 at the as-of date"


def two_quarters() -> ExtractBuilder:
    """Seven people listed at Q2 who leave at Q3, each for a different reason (sizes: see ``definitions``).

    Days before Q3 (Q2 is 92 days earlier); points are gravity x outcome x 0.5^(age / half-life):
    KEEP-1/KEEP-2 knife violence convicted 100/120 days: 49.6, 47.7, the two listed;
    RANK knife violence convicted 150 days: 45.1, eligible, rank 3 of a cohort of 2;
    CUT possession convicted 120 days: 40 x 0.735 = 29.4, eligible, under the cohort minimum 35;
    LOW possession cautioned 100 days: 28 x 0.774 = 21.7, under the minimum risk score 25;
    STALE knife violence convicted 370 days: outside the review window;
    AGED 17 at Q2 and 18 at Q3.
    """
    b = ExtractBuilder(Q3)
    for pid, code, outcome, days in (("KEEP-1", "knife_violence", "convicted", 100),
                                     ("KEEP-2", "knife_violence", "convicted", 120),
                                     ("RANK", "knife_violence", "convicted", 150),
                                     ("CUT", "knife_possession", "convicted", 120),
                                     ("LOW", "knife_possession", "cautioned", 100),
                                     ("STALE", "knife_violence", "convicted", 370),
                                     ("AGED", "knife_violence", "convicted", 110)):
        b.person(pid, age=15).event(pid, code, days_ago=days, outcome=outcome)
    b.people[-1]["date_of_birth"] = "2008-08-15"  # AGED: 17 at Q2, 18 at Q3
    return b


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reasons")
    defs = offline_definitions()
    s = defs.settings
    wide = dataclasses.replace(defs, settings=dataclasses.replace(s, partner=dataclasses.replace(
        s.partner, fields=(*s.partner.fields, "rank"))))
    small = dataclasses.replace(wide, settings=dataclasses.replace(wide.settings, cohort=dataclasses.replace(
        s.cohort, size=2, min_score=35.0)))
    data = two_quarters().write(tmp / "data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(s.partner.key_variable, KEY)
        for as_of, definitions in ((Q2, wide), (Q3, small)):
            result = run_refresh(data, as_of=as_of, out=tmp / str(as_of), definitions=definitions,
                                 db_url=f"sqlite:///{tmp / 'h.db'}", extract_date=Q3 + dt.timedelta(days=1),
                                 partner_pack="yes")
    return result, tmp / str(Q3)


def expected_reasons(scores: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """(police view, partner view) for each person removed, from the templates and the stored scores."""
    risk = scores.set_index("person_id")["risk_score"]

    def gap(pid: str, floor: float) -> dict:
        return {"score": format_points(risk[pid]), "gap": format_points(floor - risk[pid]),
                "minimum": format_points(floor)}

    stale = REASONS["stale_weapon"].format(age=370, days=365,
                                           event="knife violence (assault or wounding with a blade), convicted")
    aged = REASONS["age_over"].format(age=18, gap="1 year", max_age=17)
    return {
        "RANK": (CUT_OFF["rank"].format(rank=3, size=2), "still eligible but below the cohort cut-off (cohort is top 2)"),
        "CUT": (CUT_OFF["score"].format(**gap("CUT", 35)),
                "still eligible but below the cohort cut-off (risk score below the cohort minimum)"),
        "LOW": (REASONS["low_score"].format(**gap("LOW", 25)), "risk score below the minimum for listing"),
        "STALE": (stale, stale),
        "AGED": (aged, aged),
    }


def test_removed_people_keep_the_amount_for_the_police_and_the_rule_for_partners(refreshed):
    result, out = refreshed
    assert list(result.members["person_id"]) == ["KEEP-1", "KEEP-2"]
    expected = expected_reasons(pd.read_parquet(out / "scores.parquet"))
    police = pd.read_csv(out / "removed.csv").set_index("person_id")["reason"].to_dict()
    assert police == {pid: view[0] for pid, view in expected.items()}
    sheet = openpyxl.load_workbook(out / "partner" / "cohort.xlsx")["Removed"]
    rows = list(sheet.iter_rows(values_only=True))
    column = rows[0].index("Reason for removal")
    partner = {row[rows[0].index("Pseudonym")]: row[column] for row in rows[1:]}
    assert partner == {pseudonym(pid, KEY.encode()): view[1] for pid, view in expected.items()}
    html = (out / "partner" / "cohort.html").read_text()
    for _police, words in expected.values():
        assert words in html


def partner_texts(folder: Path) -> dict[str, str]:
    texts = {p.name: p.read_text() for p in folder.glob("cohort.*") if p.suffix != ".xlsx"}
    with zipfile.ZipFile(folder / "cohort.xlsx") as zf:
        texts |= {f"cohort.xlsx!{n}": zf.read(n).decode("utf-8", "replace") for n in zf.namelist()}
    return texts


def test_no_partner_file_names_a_score_or_points(refreshed):
    result, out = refreshed
    police = pd.read_csv(out / "removed.csv")
    assert police["reason"].str.contains(SCORE_IN_TEXT).sum() == 2  # CUT and LOW: the police view keeps them
    for name, text in partner_texts(out / "partner").items():
        assert not SCORE_IN_TEXT.search(text), (name, SCORE_IN_TEXT.search(text))
        for score in result.scored.scores["risk_score"]:
            assert f"risk score {format_points(score)}" not in text, name
