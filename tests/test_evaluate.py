"""``hkc evaluate``: the panel built from the history and an extract, the command's refusals, its three files.

The panel's counts are checked by hand on a tiny history and extract built here (events placed on
each side of the cohort date and the window's edges, a re-keyed id, a person the extract lost, a
child whose window starts at their 10th birthday, interventions received and declined); the
command runs end to end on a synthetic force that lives through quarters, refreshed at two
quarter ends and evaluated against the extract a year later, where the panel's outcome is checked
a second way against :func:`hkc.matrix.knife_outcome` (the retrospective audit's own label).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cli import main
from hkc.definitions import init_deployment, load_definitions
from hkc.errors import HkcError
from hkc.evaluation import build_panel, parse_cohorts, read_aliases
from hkc.evaluation.build import LOW_SCORE, YEAR_DAYS, cohort_cutoff
from hkc.evaluation.report import forest_plot, small_count
from hkc.extract import load_extract
from hkc.history import open_store
from hkc.matrix import knife_outcome
from hkc.matrix.scoring import REASONS
from hkc.refresh import run_refresh
from hkc.synth import extract_folder, generate_quarters, parse_quarters, write_quarters
from tests.builders import ExtractBuilder, offline_definitions

C = dt.date(2025, 3, 31)          # the tiny history's one cohort date
END = dt.date(2026, 3, 31)        # its extract's end: exactly a 365-day window after C


def days(n: int) -> int:
    """``days_ago`` for an event ``n`` days after C in an extract built as of END (negative: before C)."""
    return (END - (C + dt.timedelta(days=n))).days


def stored_scores(rows: list[tuple]) -> pd.DataFrame:
    """A run's score rows: (person_id, risk_score, eligible, in_cohort, rank, reason)."""
    frame = pd.DataFrame(rows, columns=["person_id", "risk_score", "eligible", "in_cohort", "rank", "reason"])
    frame["rank"] = pd.array(frame["rank"], dtype="Int64")
    return frame.assign(vulnerability_score=0.0, rag=np.where(frame["in_cohort"], "red", None), movement=None,
                        rationale=None)


def save_run(store, as_of: dt.date, rows: list[tuple]) -> None:
    manifest = {"started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:01:00+00:00",
                "hkc_version": "test", "config_sha256": "c" * 64, "inputs_sha256": "i" * 64,
                "cohort_size": sum(r[3] for r in rows), "eligible": sum(r[2] for r in rows), "scored": len(rows),
                "as_of": as_of.isoformat()}
    empty = pd.DataFrame(columns=["person_id"])
    store.save_run(as_of=as_of, manifest=manifest, audit=None, scores_frame=stored_scores(rows),
                   contributions_frame=empty, evidence_frame=empty, removed_frame=empty)


LOW = REASONS["low_score"].format(score="20", gap="5", minimum="25")


@pytest.fixture
def tiny(tmp_path):
    """One stored run at C and an extract ending at END; every count below is worked out by hand."""
    defs = offline_definitions()
    store = open_store(f"sqlite:///{tmp_path / 'history.db'}")
    save_run(store, C, [
        ("A", 60.0, True, True, 1, ""), ("B", 40.0, True, True, 2, ""), ("GHOST", 35.0, True, True, 3, ""),
        ("OLD1", 30.0, True, True, 4, ""), ("F", 20.0, False, False, None, LOW),
        ("Y", 15.0, False, False, None, REASONS["low_score"].format(score="15", gap="10", minimum="25")),
        ("X", 50.0, False, False, None, "age 19 is 2 years above the maximum age 17 at the as-of date"),
    ])
    b = ExtractBuilder(as_of=END)
    for pid in ("A", "B", "F", "NEW1", "X"):
        b.person(pid, age=16)
    b.person("Y", date_of_birth="2014-09-30")   # 10 on 2024-09-30: 182 days before C
    # A: knife possession as offender, on both sides and at the edges of the 365-day windows
    for n in (-400, -365, -364, -100, 0, 1, 200, 365):
        b.event("A", "knife_possession", days_ago=days(n), role="offender")
    b.event("A", "knife_possession", days_ago=days(-10), role="victim")     # a role the outcome does not count
    b.event("A", "knife_victim", days_ago=days(-5))                         # a secondary outcome
    # B: knife violence before; violence and robbery after (secondary "any violence": 1 before, 2 after)
    b.event("B", "knife_violence", days_ago=days(-30), role="suspect")
    b.event("B", "violence", days_ago=days(50))
    b.event("B", "robbery", days_ago=days(60))
    # the re-keyed person (stored as OLD1): one event each side, under the new id
    b.event("NEW1", "knife_possession", days_ago=days(-20))
    b.event("NEW1", "knife_violence", days_ago=days(20))
    # F, below the score floor: a missing episode and an exclusion after
    b.event("F", "missing_episode", days_ago=days(10))
    b.event("F", "exclusion", days_ago=days(11))
    # Y turned 10 on 2024-09-30: the window before starts then, the missing episode before it is not counted
    b.event("Y", "missing_episode", days_ago=days(-300))
    b.event("Y", "missing_episode", days_ago=days(-30))
    b.event("X", "knife_possession", days_ago=days(5))
    folder = b.write(tmp_path / "extract")
    (folder / "aliases.csv").write_text("old_id,new_id,date,reason\nOLD1,NEW1,2025-06-01,re-keyed\n")
    extract = load_extract(folder, catalogue=defs.catalogue, extract_date=END)
    return {"store": store, "extract": extract, "defs": defs, "folder": folder, "db": tmp_path / "history.db"}


def panel_of(tiny, **kw) -> pd.DataFrame:
    options = {"interventions": pd.DataFrame(), "extract_end": END} | kw
    return build_panel(tiny["store"], tiny["extract"], definitions=tiny["defs"], cohorts=[C], window_days=365,
                       **options).set_index("person_id")


def test_the_panel_counts_events_either_side_of_the_cohort_date_by_hand(tiny):
    p = panel_of(tiny)
    assert list(p.index) == ["A", "B", "NEW1", "F", "Y"]                      # X (too old) and GHOST (lost) out
    assert p.loc["A", ["pre_events", "post_events"]].tolist() == [3, 3]        # -364, -100, 0 | 1, 200, 365
    assert p.loc["B", ["pre_events", "post_events", "pre_violence", "post_violence"]].tolist() == [1, 0, 1, 2]
    assert p.loc["NEW1", ["pre_events", "post_events", "history_id"]].tolist() == [1, 1, "OLD1"]
    assert p.loc["A", ["pre_knife_victim", "post_knife_victim"]].tolist() == [1, 0]
    assert p.loc["F", ["post_missing", "post_exclusions", "pre_events"]].tolist() == [1, 1, 0]
    assert p.loc["Y", "pre_missing"] == 1                                       # the one before age 10 is not
    assert p.loc["A", "n_knife_possession"] == 3 and p.loc["B", "n_knife_violence"] == 1
    assert p.loc["A", "pre_years"] == pytest.approx(365 / YEAR_DAYS)
    assert p.loc["Y", "pre_years"] == pytest.approx(183 / YEAR_DAYS)          # 2024-09-30 to C, both in
    assert p.loc["A", "post_years"] == pytest.approx(365 / YEAR_DAYS)
    assert p["rank"].tolist() == [1, 2, 3, 4, 5] and p["listed"].tolist() == [True, True, True, False, False]
    assert p["eligible"].tolist() == [True, True, True, False, False]
    assert (p["cutoff"] == 25.0).all()
    assert p.loc["A", "age"] == 15 and p.loc["Y", "age"] == 10
    assert (p["treated"] == p["listed"]).all()
    assert any("1 of 6 ranked records (1 of them listed)" in w for w in p.attrs["warnings"])
    assert any("No interventions are recorded" in w for w in p.attrs["warnings"])


def test_an_extract_that_ends_early_shortens_the_window_after_and_its_counts(tiny):
    p = panel_of(tiny, extract_end=C + dt.timedelta(days=200))
    assert p.loc["A", "post_events"] == 2 and p.loc["A", "pre_events"] == 3     # 1 and 200 only
    assert p.loc["A", "post_years"] == pytest.approx(200 / YEAR_DAYS)


def test_without_the_aliases_file_the_re_keyed_person_is_lost_and_counted(tiny):
    assert read_aliases(tiny["folder"]) == {"OLD1": "NEW1"}
    p = panel_of(tiny, aliases={})
    assert "NEW1" not in p.index
    assert any("2 of 6 ranked records (2 of them listed)" in w for w in p.attrs["warnings"])


def test_treated_is_a_listed_person_with_an_intervention_received_soon_after_the_cohort_date(tiny):
    """Received (not declined) and starting within a quarter of the listing, by someone listed then; B's
    intervention 154 days later and F's (never listed) are not this listing's treatment, and are counted
    in a warning."""
    record = pd.DataFrame({"person_id": ["A", "B", "OLD1", "F", "B", "F"],
                           "start_date": ["2025-04-10", "2025-04-10", "2025-04-20", "2025-03-01", "2025-09-01",
                                          "2025-04-15"],
                           "end_date": [None] * 6,
                           "engagement": ["engaged", "declined", "partial", "engaged", "engaged", "engaged"]})
    p = panel_of(tiny, interventions=record)
    assert p["treated"].to_dict() == {"A": True, "B": False, "NEW1": True, "F": False, "Y": False}
    assert any(w.startswith("2 row(s) record an intervention in the window after the cohort date that is not "
                            "counted") for w in p.attrs["warnings"])


def test_the_low_score_reason_is_the_matrix_own_and_only_it_matches():
    assert LOW_SCORE.match(LOW)
    assert LOW_SCORE.match(REASONS["low_score"].format(score="24.9", gap="0.1", minimum="25"))
    others = [REASONS["no_weapon"].format(days=365), REASONS["age_over"].format(age=19, gap="2 years", max_age=17),
              REASONS["no_events"], REASONS["vulnerability_only"]]
    assert not any(LOW_SCORE.match(t) for t in others)


@pytest.mark.parametrize(("scores", "listed", "method", "size", "expected"), [
    ([60, 40, 20], [1, 1, 0], "threshold_capped", 50, (25.0, True)),     # not full: the minimum
    ([60, 40, 40, 20], [1, 1, 0, 0], "threshold_capped", 2, (40.0, True)),  # full: the last listed, a tie lost
    ([60, 40, 30], [1, 1, 0], "threshold_capped", 50, (40.0, False)),    # 30 >= 25 left off: not this rule
    ([60, 10, 5], [1, 1, 0], "top_n", 2, (10.0, True)),
])
def test_the_cut_off_follows_the_cohort_rule_or_says_it_does_not(scores, listed, method, size, expected):
    cohort = dataclasses.replace(offline_definitions().settings.cohort, method=method, size=size, min_score=25.0)
    assert cohort_cutoff(np.array(scores), np.array(listed, dtype=bool), cohort, 25.0) == expected


def test_cohorts_are_one_quarter_or_a_range():
    assert parse_cohorts("2025Q1..2025Q4") == [dt.date(2025, 3, 31), dt.date(2025, 6, 30), dt.date(2025, 9, 30),
                                              dt.date(2025, 12, 31)]
    assert parse_cohorts("2025Q3") == [dt.date(2025, 9, 30)]
    for bad in ("2025Q4..2025Q1", "2025Q5", "2025Q1..2025Q2..2025Q3", ""):
        with pytest.raises(HkcError):
            parse_cohorts(bad)


def evaluate(*args: str):
    return CliRunner().invoke(main, ["evaluate", *args])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("options", "says"), [
    (["--cohorts", "2025Q2", "--extract-date", "2026-09-30"],
     "--cohorts: 2025-06-30 is not a stored run in sqlite:///"),
    (["--cohorts", "2025Q1", "--extract-date", "2026-01-31"],
     "the extract ends on 2026-01-31 (its --extract-date); --window 365 days after the last cohort 2025-03-31 needs "
     "it to reach 2026-03-31"),
    (["--cohorts", "2025Q1", "--window", "400"], "the extract ends on 2026-03-31 (the date of its latest event; "
     "pass --extract-date if it was taken later); --window 400 days after the last cohort 2025-03-31 needs it to "
     "reach 2026-05-05"),
    (["--cohorts", "2025Q1", "--extract-date", "2025-01-31"], "the extract and the history do not overlap"),
])
def test_bad_inputs_give_one_line_exit_2_and_write_nothing(tiny, tmp_path, options, says):
    before = digest(tiny["db"])
    out = tmp_path / "evaluation"
    result = evaluate(str(tiny["folder"]), "--db", f"sqlite:///{tiny['db']}", "--out", str(out), *options)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and says in errors[0], result.output
    assert not out.exists() and digest(tiny["db"]) == before


def test_an_empty_history_and_a_strange_extract_are_refused(tiny, tmp_path):
    empty = tmp_path / "empty.db"
    open_store(f"sqlite:///{empty}")
    result = evaluate(str(tiny["folder"]), "--cohorts", "2025Q1", "--db", f"sqlite:///{empty}", "--out",
                      str(tmp_path / "o1"), "--extract-date", "2026-03-31")
    assert result.exit_code == 2 and "holds no runs" in result.output.splitlines()[-1]
    other = ExtractBuilder(as_of=END).person("SOMEONE").event("SOMEONE", "knife_possession", days_ago=days(-300))
    folder = other.write(tmp_path / "other")
    result = evaluate(str(folder), "--cohorts", "2025Q1", "--db", f"sqlite:///{tiny['db']}", "--out",
                      str(tmp_path / "o2"), "--extract-date", "2026-03-31")
    assert result.exit_code == 2 and "none of the 6 people ranked at 2025-03-31 (4 of them listed) is in the extract" in result.output
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


# -- end to end on a synthetic force ----------------------------------------------------------------

def quick_audit(spec: Path) -> None:
    """The refresh's fairness audit by sex only, 20 resamples: most of a refresh's time, none of the evaluation's."""
    text = spec.read_text().replace("resamples = 1000", "resamples = 20")
    text = text.replace('columns = ["ethnicity", "sex"]', 'columns = ["sex"]')
    text = text.replace('intersections = ["ethnicity*sex"]', "intersections = []")
    text = re.sub(r"(?m)^ethnicity = .*$", "", text)
    spec.write_text(re.sub(r"\[(pooled|labels)\.ethnicity\].*?(?=\n\[)", "", text, flags=re.S))


@pytest.fixture(scope="module")
def force(tmp_path_factory):
    """A force through 2025Q1..2026Q2, refreshed at 2025Q1 and 2025Q2 (a list of 20, so the cap binds and
    people are left off above the floor), evaluated against the 2026Q2 extract: 365 days after 2025Q2."""
    tmp = tmp_path_factory.mktemp("evaluate")
    init_deployment(tmp / "force")
    config = tmp / "force" / "config" / "hkc.toml"
    config.write_text(config.read_text().replace("enabled = true", "enabled = false").replace("size = 50", "size = 20"))
    quick_audit(tmp / "force" / "audits" / "fairness.toml")
    defs = load_definitions(config=config)
    quarters = parse_quarters("2025Q1..2026Q2")
    write_quarters(generate_quarters(people=3000, seed=7, quarters=quarters, catalogue=defs.catalogue), tmp / "q")
    db = f"sqlite:///{tmp / 'history.db'}"
    for day in quarters[:2]:
        run_refresh(extract_folder(tmp / "q", day), as_of=day, out=tmp / f"out-{day}", definitions=defs, db_url=db,
                    extract_date=day, partner_pack="no")
    data = extract_folder(tmp / "q", quarters[-1])
    result = evaluate(str(data), "--cohorts", "2025Q1..2025Q2", "--db", db, "--out", str(tmp / "evaluation"),
                      "--extract-date", "2026Q2", "--config", str(config))
    return {"tmp": tmp, "defs": defs, "db": db, "data": data, "result": result, "out": tmp / "evaluation"}


def test_the_command_writes_the_three_files_with_the_issue_schema(force):
    assert force["result"].exit_code == 0, force["result"].output
    out = force["out"]
    data = json.loads((out / "evaluation.json").read_text())
    assert data["cohorts"] == ["2025-03-31", "2025-06-30"] and data["window_days"] == 365
    assert data["primary"] == "did_near_miss" and data["outcome"]["types"] == ["knife_possession", "knife_violence"]
    assert set(data["designs"]) == {"naive_prepost", "did_near_miss", "matched", "rd_cutoff"}
    for design in data["designs"].values():
        assert {"estimate", "ci_low", "ci_high", "n_treated", "n_comparison", "mde", "sms_level", "label"} <= set(design)
    assert data["designs"]["naive_prepost"]["sms_level"] == 1 and data["designs"]["rd_cutoff"]["sms_level"] == 4
    assert "NOT an effect estimate" in data["designs"]["naive_prepost"]["label"]
    assert set(data["secondary"]) == {"violence", "knife_victim", "missing", "exclusions"}
    assert data["warnings"] and all(isinstance(w, str) for w in data["warnings"])
    assert data["verdict"] and data["verdict"][0] in force["result"].output
    # no effect was planted: the simple before/after still shows the fall that selection at a peak produces
    assert data["designs"]["naive_prepost"]["estimate"] < -0.15
    table = pd.read_csv(out / "evaluation.csv")
    assert len(table) == 4 * (1 + 4) and set(table["design"]) == set(data["designs"])
    assert set(table["outcome"]) == {"events", "violence", "knife_victim", "missing", "exclusions"}
    html = (out / "evaluation.html").read_text()
    assert html.count("<svg") == 2 and "NOT an effect estimate" in html
    assert "Counts of people from 1 to 9 are shown as" in html
    assert data["verdict"][1].split(":")[0] in html
    forest = forest_plot(data)
    assert forest["rows"][0]["naive"] and not any(r["naive"] for r in forest["rows"][1:])
    assert forest["separator"] is not None                                    # the naive row is drawn apart


def test_counts_of_people_under_ten_are_shown_as_small():
    assert [small_count(n) for n in (None, 0, 1, 9, 10, 1234)] == ["—", "0", "<10", "<10", "10", "1,234"]


def test_the_panel_outcome_agrees_with_the_audits_outcome_label(force):
    defs = force["defs"]
    store = open_store(force["db"], create=False)
    extract = load_extract(force["data"], catalogue=defs.catalogue, extract_date=dt.date(2026, 6, 30))
    cohorts = [dt.date(2025, 3, 31), dt.date(2025, 6, 30)]
    panel = build_panel(store, extract, definitions=defs, cohorts=cohorts, window_days=365,
                        extract_end=dt.date(2026, 6, 30))
    o = defs.settings.outcome
    people = extract.people.set_index(extract.people["person_id"].astype(str))
    for cohort in cohorts:
        rows = panel[panel["cohort"] == cohort]
        flagged = knife_outcome(extract.events, people=people.loc[rows["person_id"]], start=cohort, days=365,
                                types=o.types, roles=o.roles)
        assert ((rows["post_events"] > 0).to_numpy() == flagged.astype(bool)).all()
        listed = rows[rows["listed"]]
        stored = store.cohort(store.find_run(cohort).run_id)
        assert len(listed) <= len(stored) == 20                               # the cap binds at 20
        assert listed["rank"].tolist() == list(range(1, len(listed) + 1))
        assert (rows["cutoff"] == stored["risk_score"].min()).all()
        assert (rows.loc[~rows["listed"], "score"].to_numpy() <= rows["cutoff"].iloc[0]).all()
    assert (panel["eligible"] & ~panel["listed"]).any()                       # eligible people left off by the cap


def test_the_next_pack_says_what_the_latest_evaluation_found_and_before_that_that_none_was_run(force):
    """The history keeps the evaluation's aggregates (no person); the next refresh's police and partner packs
    and run.json carry its first two verdict sentences — the primary design, then the simple before/after
    labelled — while the packs made before it said that nothing had been evaluated."""
    from hkc.history import latest_evaluation
    from hkc.partnership.checks import NO_EVALUATION_LINE

    tmp, defs = force["tmp"], force["defs"]
    before = (tmp / "out-2025-06-30" / "cohort.html").read_text()
    assert "Is it working?" in before and NO_EVALUATION_LINE.split(".")[0] in before
    data = json.loads((force["out"] / "evaluation.json").read_text())
    kept = latest_evaluation(open_store(force["db"], create=False))
    assert kept["verdict"] == data["verdict"] and kept["cohorts"] == data["cohorts"]
    assert {name: d["estimate"] for name, d in kept["designs"].items()} == \
        {name: d["estimate"] for name, d in data["designs"].items()}
    stored = json.dumps(kept)
    people = set(pd.read_csv(tmp / "out-2025-06-30" / "cohort.csv", dtype=str)["person_id"])
    assert not any(p in stored for p in people)                       # aggregates only
    day = dt.date(2025, 9, 30)
    run_refresh(extract_folder(tmp / "q", day), as_of=day, out=tmp / "out-next", definitions=defs, db_url=force["db"],
                extract_date=day, partner_pack="yes", demo_key=True)
    police = (tmp / "out-next" / "cohort.html").read_text()
    partner = (tmp / "out-next" / "partner" / "cohort.html").read_text()
    import html as html_module
    for page in (police, partner):
        text = html_module.unescape(page)
        assert "Is it working?" in text and data["verdict"][0] in text and data["verdict"][1] in text
        assert NO_EVALUATION_LINE.split(".")[0] not in text
    assert json.loads((tmp / "out-next" / "run.json").read_text())["evaluation"]["verdict"] == data["verdict"]
