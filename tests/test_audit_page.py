"""The audit page an auditor reads: error rates at a glance, the retrospective, legends, caveats.

Issue #16: COMPAS's headline (a false positive rate of 44.85% for African-American people against
23.45% for Caucasian people) was only in a table; the refresh's retrospective audit (error rates by
group) was computed but never shown; chart colours had no legend; differences were printed as
fractions; and nothing on the page said that the outcome is police-generated, or that at a small
size the absence of a flag is not evidence of fairness.
"""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

from hkc.audit.disclosure import suppress_small_cells
from hkc.audit.drivers import driver_decomposition
from hkc.audit.file import run_file_audit
from hkc.audit.groups import audit_selection
from hkc.audit.report import CAVEAT_OUTCOME, CAVEAT_SMALL, write_audit
from hkc.definitions.audit_spec import AuditSpec

COMPAS = Path(__file__).resolve().parent / "data" / "compas" / "compas-scores-two-years.csv.gz"
ERROR_CHART = 'aria-label="false positive and false negative rates by {attr} with intervals"'


def spec(resamples: int = 200) -> AuditSpec:
    base = AuditSpec()
    return dataclasses.replace(base, bootstrap=dataclasses.replace(base.bootstrap, resamples=resamples, seed=5))


def group(result: dict, attr: str, name: str) -> dict:
    return next(g for g in result["attributes"][attr]["groups"] if g["group"] == name)


@pytest.fixture(scope="module")
def compas(tmp_path_factory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("compas")
    result = run_file_audit(COMPAS, score="decile_score", threshold=5, selected=None, outcome="two_year_recid",
                            by=["race", "sex"], out=out, spec=spec(), reference={"race": "Caucasian"})
    return result, (out / "audit.html").read_text()


@pytest.fixture(scope="module")
def refresh_page(tmp_path_factory) -> tuple[dict, str]:
    """A refresh-style result: the cohort (no outcome), the drivers, and the retrospective audit of the
    list of a year earlier against what happened next."""
    rng = np.random.default_rng(4)
    n = 3000
    people = pd.DataFrame({"person_id": [f"p{i}" for i in range(n)],
                           "ethnicity": rng.choice(["Asian", "Black", "White"], n, p=[0.1, 0.2, 0.7]),
                           "sex": rng.choice(["F", "M"], n)})
    black = (people["ethnicity"] == "Black").to_numpy()
    now = people.assign(selected=rng.random(n) < np.where(black, 0.04, 0.02))
    result = audit_selection(now, selected="selected", by=["ethnicity", "sex"], spec=spec(),
                             selection_label="in the cohort")
    outcome = rng.random(n) < 0.15
    past = now.assign(selected=rng.random(n) < np.where(outcome, 0.3, 0.05) * np.where(black, 1.6, 1.0),
                      outcome=outcome)
    retro = audit_selection(past, selected="selected", by=["ethnicity", "sex"], outcome="outcome", spec=spec(),
                            selection_label="in the cohort")
    result["retrospective"] = {"available": True, "as_of": "2025-09-30", "horizon_days": 365,
                               "outcome": "knife_possession as offender within 365 days", "cohort_size": 180,
                               "positives": int(outcome.sum()), "audit": retro}
    contributions = pd.DataFrame({"person_id": people["person_id"].repeat(2).to_numpy(),
                                  "axis": "risk", "indicator": ["knife_possession", "knife_intel"] * n,
                                  "points": rng.gamma(2, 5, 2 * n)})
    flags = pd.DataFrame({"indicator": ["knife_possession", "knife_intel"], "intelligence": [False, True],
                          "proactive": [False, True], "label": ["knife possession", "knife intelligence"]})
    result["drivers"] = {"ethnicity": driver_decomposition(contributions, people[["person_id", "ethnicity"]],
                                                           attribute="ethnicity", reference="White",
                                                           indicator_flags=flags, spec=spec(50))}
    out = tmp_path_factory.mktemp("refresh")
    write_audit(result, out, title="Fairness audit of the cohort")
    return result, (out / "audit.html").read_text()


# --------------------------------------------------------------------------------------------
# Reading the page


class _Charts(HTMLParser):
    """Each chart (an ``<svg role="img">``) with the colours it draws, and the colours of the legend
    swatches and in-chart legend boxes between it and its neighbours."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[dict] = []
        self.between: list[set[str]] = [set()]  # swatch colours before chart 0, between 0 and 1, ...
        self.depth = 0  # inside a chart's svg

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        colours = {_colour(a[k]) for k in ("fill", "stroke") if a.get(k)} - {"none", "#ffffff"}
        if tag == "svg" and a.get("role") == "img":
            self.charts.append({"label": a.get("aria-label"), "colours": set(), "legend": set()})
            self.depth = 1
        elif self.depth:
            self.depth += tag == "svg"
            self.charts[-1]["colours"] |= colours
            if tag == "rect" and a.get("width") == "10" and a.get("height") == "10":
                self.charts[-1]["legend"] |= colours
        elif tag != "svg":
            self.between[-1] |= colours

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg" and self.depth:
            self.depth -= 1
            if not self.depth:
                self.between.append(set())


def _colour(value: str) -> str:
    value = value.strip().lower()
    return "#" + "".join(c * 2 for c in value[1:]) if re.fullmatch(r"#[0-9a-f]{3}", value) else value


def charts_of(html: str) -> list[dict]:
    parser = _Charts()
    parser.feed(html)
    for i, chart in enumerate(parser.charts):
        chart["legend"] |= parser.between[i] | parser.between[i + 1]
    return parser.charts


def section(html: str, start: str, end: str = "<h2>") -> str:
    at = html.index(start)
    stop = html.find(end, at + len(start))
    return html[at:stop if stop > 0 else len(html)]


def table_row(html: str, first_cell: str) -> str:
    match = re.search(r"<tr[^>]*>\s*<td>" + re.escape(first_cell) + r"(?: \(reference\))?</td>.*?</tr>", html, re.S)
    assert match, first_cell
    return match.group(0)


# --------------------------------------------------------------------------------------------
# COMPAS: the headline at a glance


def test_compas_error_rates_are_charted_with_intervals_before_the_findings(compas):
    result, html = compas
    chart = re.search(r"<svg[^>]*" + re.escape(ERROR_CHART.format(attr="race")) + r".*?</svg>", html, re.S)
    assert chart and chart.start() < html.index("<h2>Findings</h2>")
    aa, white = group(result, "race", "African-American"), group(result, "race", "Caucasian")
    lo, hi = aa["ci"]["false_positive_rate"]
    difference = aa["false_positive_rate"] - white["false_positive_rate"]
    assert difference == pytest.approx(0.4485 - 0.2345, abs=1e-4)  # ProPublica's published rates
    assert (f"44.85% ({100 * lo:.1f}–{100 * hi:.1f}), {100 * difference:+.2f} pp flagged"
            in chart.group(0))
    assert re.search(r">23\.45% \(\d+\.\d–\d+\.\d\)<", chart.group(0))  # the reference: no difference to itself


def test_every_colour_in_a_chart_has_a_legend(compas, refresh_page):
    checked = 0
    for _, html in (compas, refresh_page):
        for chart in charts_of(html):
            assert chart["colours"] <= chart["legend"], (chart["label"], chart["colours"] - chart["legend"])
            checked += 1
        assert 'fill="#fde2e1"' in html  # the shading of flagged rows has its swatch too
    assert checked >= 12


def test_differences_are_percentage_points(compas):
    result, html = compas
    aa = group(result, "race", "African-American")
    row = re.search(r"<td>African-American</td><td>false positive rate</td>.*?</tr>", html, re.S).group(0)
    d, (lo, hi) = aa["difference"]["false_positive_rate"], aa["difference_ci"]["false_positive_rate"]
    assert f"{100 * d:+.2f} pp" in row and f"{100 * lo:+.2f} to {100 * hi:+.2f} pp" in row
    assert "bootstrap" in row and "flagged" in row
    mean_row = re.search(r"<td>African-American</td><td>mean score</td>.*?</tr>", html, re.S).group(0)
    assert " pp" not in mean_row  # a score's difference is in points


def test_the_caveat_box_comes_first_and_names_the_feedback_loop_and_small_sizes(compas):
    result, html = compas
    box = section(html, '<div class="caveat"', "</div>")
    assert str(escape(CAVEAT_OUTCOME)) in box and "feedback loop" in CAVEAT_OUTCOME
    assert str(escape(CAVEAT_SMALL.format(small_cell=10))) in box
    assert html.index('<div class="caveat"') < html.index(ERROR_CHART.format(attr="race"))
    unassessed = [g["group"] for g in result["attributes"]["race"]["groups"]
                  if (g["unassessed"] or g["indicative"]) and not g["flags"]]
    assert unassessed == ["Asian"]
    assert "race: 5 groups compared with Caucasian people; 3 flagged; <strong>1 could not be assessed at this size</strong>" \
        in box


def test_small_and_cannot_be_assessed_are_marked_only_where_they_apply(compas):
    result, html = compas
    race = section(html, "<h2>By race</h2>")
    assert '<td class="small">small</td>' in table_row(race, "Native American")  # 8 people without the outcome
    assert '<td class="small"></td>' in table_row(race, "Hispanic")
    hispanic_women = group(result, "race*sex", "Hispanic*Female")
    assert hispanic_women["small"] is False and "true_positives" in hispanic_women["small_counts"]
    assert '<td class="small"></td>' in table_row(section(html, "<h2>By race*sex</h2>"), "Hispanic*Female")
    assert "<th>cannot be assessed at this size</th>" in race
    assert ('<td class="unassessed">selection rate, false positive rate, false negative rate</td>'
            in table_row(race, "Asian"))
    assert '<td class="unassessed"></td>' in table_row(race, "Hispanic")


def test_the_partner_copy_page_keeps_the_caveats_and_withholds_small_groups(compas, tmp_path):
    result, _ = compas
    write_audit(suppress_small_cells(result, threshold=10), tmp_path, title="Partner copy")
    html = (tmp_path / "audit.html").read_text()
    assert str(escape(CAVEAT_OUTCOME)) in html
    assert "withheld" in table_row(section(html, "<h2>By race</h2>"), "Asian")
    ratio_row = re.search(r"<td>Asian</td><td>selection rate</td>.*?</tr>", html, re.S).group(0)
    assert ratio_row.count("withheld") >= 3 and "bootstrap" not in ratio_row and "exact" not in ratio_row


# --------------------------------------------------------------------------------------------
# The refresh's page: the retrospective, the pooled comparison


def test_the_refresh_page_shows_the_retrospective_error_rates_with_intervals(refresh_page):
    result, html = refresh_page
    retro = section(html, '<h2 id="retrospective">Retrospective: the list of a year earlier against what happened next</h2>')
    assert '<a href="#retrospective">' in section(html, '<div class="caveat"', "</div>")
    assert ERROR_CHART.format(attr="ethnicity") in retro and ERROR_CHART.format(attr="sex") in retro
    past = result["retrospective"]["audit"]
    black = group(past, "ethnicity", "Black")
    lo, hi = black["ci"]["false_positive_rate"]
    row = table_row(retro, "Black")
    assert f"{100 * black['false_positive_rate']:.2f}%" in row and f"{100 * lo:.2f}%–{100 * hi:.2f}%" in row
    assert f"{100 * black['difference']['false_positive_rate']:+.2f} pp" in row
    assert "knife_possession as offender within 365 days" in retro
    assert str(escape(CAVEAT_OUTCOME)) in retro
    assert ERROR_CHART.format(attr="ethnicity") not in section(html, "<h1>", '<h2 id="retrospective">')  # no outcome now


def test_the_refresh_page_says_when_the_retrospective_is_not_available(tmp_path):
    frame = pd.DataFrame({"ethnicity": ["Black", "White"] * 50, "selected": [True, False, False, False] * 25})
    result = audit_selection(frame, selected="selected", by=["ethnicity"], spec=spec(50))
    result["retrospective"] = {"available": False, "reason": "the extract has no events on or before 2025-09-30"}
    write_audit(result, tmp_path, title="t")
    assert "Not available: the extract has no events on or before 2025-09-30." in (tmp_path / "audit.html").read_text()


def test_the_pooled_comparison_has_its_own_section_naming_its_groups(refresh_page):
    _, html = refresh_page
    pooled = section(html, "<h2>By ethnicity (pooled)</h2>")
    assert "Pooled comparison: Minority ethnic (pooled) = Asian, Black, taken together against White." in pooled
    assert "Compare the pooled groups instead" in section(html, '<div class="caveat"', "</div>")
