"""Reconcile ``hkc movement``'s causes with the ground truth of a synthetic force that lives through quarters.

    python -m benchmarks.movement_causes --people 20000 --seed 7 [--quarters 2024Q1..2026Q3]

Generates (or reuses, cached under ``benchmarks/.cache/``) the quarterly force, refreshes its last
two quarter extracts into a fresh history (each from its own extract, as a force does), and asks
:func:`hkc.history.compare_runs` why each earlier cohort member moved down or off the list, with
the later extract's ``aliases`` file as the alias map.  Then it derives the cause each person
*should* get from the ground truth alone (:func:`expected_causes`: re-keys from ``id_changes``,
weakening outcome changes from ``outcome_changes``, new events from ``events``) and prints the
confusion table of the two (rows: hkc's cause; columns: the truth's), which reconciles exactly when
everything is on the diagonal, beside the truth's flags for every person who moved (re-keyed,
announced or not; an outcome change that weakened or did not weaken; a late record; new events),
and the old single headline next to the split.  Prints one JSON object.

The truth knows what happened to records, not the listing rules: which rule moved a person (age,
weapon-related evidence, the score or the cut-off) and whether their score fell are read from the
later run, and "counting event" means one in the earlier run's stored evidence (for weakened
outcomes) or a risk type and role the catalogue counts (for new events).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from hkc.definitions import Catalogue, Definitions, load_definitions
from hkc.history import compare_runs, identities, open_store, run_evidence
from hkc.refresh import run_refresh
from hkc.synth import extract_folder, generate_quarters, parse_quarters, write_quarters

CACHE = Path(__file__).resolve().parent / ".cache"
AGE_WORDS = ("born ", "age ")


def quarters_for(people: int, seed: int, quarters: str, **shares: float) -> Path:
    """The cached quarterly force (CSV extracts and ``_truth``), generating it if needed."""
    tag = "".join(f"-{k}{v:g}" for k, v in sorted(shares.items()))
    folder = CACHE / f"quarters-seed{seed}-people{people}-{quarters.replace('..', '-')}{tag}"
    if not (folder / "_truth" / "events.csv").is_file():
        defs = load_definitions()
        force = generate_quarters(people=people, seed=seed, quarters=parse_quarters(quarters),
                                  catalogue=defs.catalogue, **shares)
        write_quarters(force, folder)
    return folder


def offline(defs: Definitions) -> Definitions:
    settings = dataclasses.replace(defs.settings, tracking=dataclasses.replace(defs.settings.tracking, enabled=False))
    return dataclasses.replace(defs, settings=settings)


def aliases_of(extract: Path) -> dict[str, str]:
    """The extract's ``aliases`` file as ``{old_id: new_id}`` (empty when it has none)."""
    path = extract / "aliases.csv"
    if not path.is_file():
        return {}
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return dict(zip(table["old_id"], table["new_id"], strict=True))


def truth_tables(folder: Path) -> dict[str, pd.DataFrame]:
    names = ("records", "id_changes", "outcome_changes", "late_records", "events")
    return {n: pd.read_csv(folder / "_truth" / f"{n}.csv", dtype=str, keep_default_na=False) for n in names}


def _weakening(changes: pd.DataFrame, types: pd.Series, catalogue: Catalogue, non_qualifying) -> pd.Series:
    """Whether each truth outcome change weakens the event, by the catalogue's published multipliers."""
    inds = catalogue.indicators
    mult = dict(catalogue.outcome_multipliers)
    kind = types.map({c: i.evidence for c, i in inds.items()})
    weapon = types.map({c: i.weapon for c, i in inds.items()}).fillna(False).astype(bool)
    old, new = changes["old_outcome"].replace("", "none"), changes["new_outcome"].replace("", "none")
    lower = (kind == "outcome") & (new.map(mult) < old.map(mult))
    lost = weapon & new.isin(non_qualifying) & ~old.isin(non_qualifying)
    return (lower | lost).reset_index(drop=True)


def truth_flags(moved: pd.DataFrame, truth: dict[str, pd.DataFrame], earlier_evidence: pd.DataFrame, *,
                t0: dt.date, t1: dt.date, catalogue: Catalogue, non_qualifying=("nfa",),
                earlier_ids: dict[str, str] | None = None) -> pd.DataFrame:
    """Per person who moved: what the truth says happened to their record between the two extracts.

    ``earlier_ids``: ``{id now: id in the earlier run}`` of the people followed through a re-key
    (``compare_runs``'s ``followed``); ``earlier_evidence`` is under the ids now."""
    q1 = t1.isoformat()
    ids = truth["id_changes"][truth["id_changes"]["quarter"] == q1]
    true_id = truth["records"].set_index("person_id")["true_person_id"]
    events = truth["events"].set_index("event_id")
    risk = {c: set(i.roles) for c, i in catalogue.indicators.items() if i.axis == "risk"}
    weapons = {c for c, i in catalogue.indicators.items() if i.weapon}
    oc = truth["outcome_changes"]
    oc = oc[oc["quarter"] == q1].reset_index(drop=True)
    oc["type"] = oc["event_id"].map(events["type"])
    oc["weakens"] = _weakening(oc, oc["type"], catalogue, non_qualifying)
    late = truth["late_records"]
    late = late[(late["first_in"] == q1) & (late["due_in"] <= t0.isoformat())]
    ev = truth["events"]
    new = ev[(ev["date"] > t0.isoformat()) & (ev["date"] <= q1) & (ev["recorded"] <= q1)]
    new = new[[t in risk and r in risk[t] for t, r in zip(new["type"], new["role"], strict=True)]]
    e0 = earlier_evidence[earlier_evidence["axis"].astype(str) == "risk"]
    rows = []
    for person in moved["person_id"]:
        held = set(e0.loc[e0["person_id"] == person, "event_id"])
        mine = oc[oc["event_id"].isin(held)]
        who = true_id.get(person, person)
        rekey = ids[ids["old_id"] == (earlier_ids or {}).get(person, person)]
        rows.append({
            "person_id": person,
            "rekeyed_announced": bool((rekey["announced"] == "true").any()),
            "rekeyed_unannounced": bool((rekey["announced"] == "false").any()),
            "outcome_weakened": bool(mine["weakens"].any()),
            "outcome_weakened_weapon": bool((mine["weakens"] & mine["type"].isin(weapons)).any()),
            "outcome_not_weakened": bool((~mine["weakens"]).any()),
            "late_record": bool((late["person_id"] == who).any()),
            "new_events": bool((new["person_id"] == who).any()),
        })
    return pd.DataFrame(rows)


def expected_causes(moved: pd.DataFrame, flags: pd.DataFrame, later: pd.DataFrame, earlier: pd.DataFrame) -> pd.Series:
    """The cause each person should get, from the truth's flags and the listing rule that moved them."""
    f = flags.set_index("person_id")
    now = later.assign(person_id=later["person_id"].astype(str)).set_index("person_id")
    score0 = earlier.set_index("person_id")["risk_score"]
    out = {}
    for person, movement in zip(moved["person_id"], moved["movement"], strict=True):
        row = now.loc[person] if person in now.index else None
        eligible = bool(row["eligible"]) if row is not None else False
        reason = str(row["reason"] or "") if row is not None else "no counting events in the lookback windows"
        score1 = float(row["risk_score"]) if row is not None else 0.0
        if movement == "rag reduced":
            rule = "listed"
        elif eligible:
            rule = "cut-off"
        elif reason.startswith(AGE_WORDS) and ("minimum age" in reason or "maximum age" in reason
                                              or reason.startswith("born ")):
            rule = "age"
        elif (reason.startswith("risk score ") and "below the minimum" in reason) or reason in (
                "no counting events in the lookback windows",
                "vulnerability only: no risk event counts, so the risk score is 0"):
            rule = "score"
        else:
            rule = "weapon"
        g = f.loc[person]
        if g["rekeyed_unannounced"]:
            cause = "id_change"  # the refresh reported a probable re-key: not counted as removed
        elif rule == "age":  # an announced re-key is followed: the person's own record gives the cause
            cause = "no_longer_eligible"
        elif g["outcome_weakened_weapon"] if rule == "weapon" else g["outcome_weakened"]:
            cause = "record_correction"
        elif g["new_events"] and rule not in ("weapon",):
            cause = "new_events"
        elif rule == "weapon":
            cause = "no_longer_eligible"
        elif score1 < float(score0[person]):
            cause = "decay"
        elif eligible:
            cause = "cutoff"
        else:
            cause = "no_longer_eligible"
        out[person] = cause
    return pd.Series(out, name="expected")


def reconcile(store, folder: Path, t0: dt.date, t1: dt.date, defs: Definitions) -> dict:
    """compare_runs between the two runs, the truth's expected causes, and their confusion table."""
    non_qualifying = defs.settings.eligibility.non_qualifying_outcomes
    change = compare_runs(store, t0, t1, catalogue=defs.catalogue, non_qualifying_outcomes=non_qualifying,
                          aliases=aliases_of(extract_folder(folder, t1)))
    moved = pd.DataFrame([{"person_id": p["person_id"], "movement": p["movement"], "cause": cause}
                          for cause, people in change["causes"]["people"].items() for p in people],
                         columns=["person_id", "movement", "cause"])
    before_run, after_run = store.find_run(t0), store.find_run(t1)
    ids = identities(store)
    earlier = ids.follow(store.cohort(before_run.run_id), unique=True)
    stored = ids.ids_of(moved["person_id"])  # the earlier run holds a re-keyed person's past under their old id
    evidence = ids.follow(run_evidence(store, before_run.run_id, stored)).drop(columns="stored_id")
    flags = truth_flags(moved, truth_tables(folder), evidence, t0=t0, t1=t1, catalogue=defs.catalogue,
                        non_qualifying=non_qualifying,
                        earlier_ids={f["person_id"]: f["earlier_id"] for f in change["followed"]})
    expected = expected_causes(moved, flags, store.person_scores(after_run.run_id), earlier)
    moved["expected"] = moved["person_id"].map(expected)
    confusion = pd.crosstab(moved["cause"], moved["expected"]) if len(moved) else pd.DataFrame()
    flag_names = [c for c in flags.columns if c != "person_id"]
    by_flag = flags.merge(moved[["person_id", "cause"]], on="person_id").groupby("cause")[flag_names].sum() \
        if len(moved) else pd.DataFrame()
    return {"change": change, "moved": moved, "flags": flags, "confusion": confusion, "by_flag": by_flag}


def run(people: int, seed: int, quarters: str) -> dict:
    folder = quarters_for(people, seed, quarters)
    defs = offline(load_definitions())
    t0, t1 = parse_quarters(quarters)[-2:]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/history.db"
        seconds = {}
        for day in (t0, t1):
            start = time.perf_counter()
            run_refresh(extract_folder(folder, day), as_of=day, out=Path(tmp) / str(day), definitions=defs,
                        db_url=url, extract_date=day, partner_pack="no", by="benchmark")
            seconds[str(day)] = round(time.perf_counter() - start, 1)
        start = time.perf_counter()
        result = reconcile(open_store(url, create=False), folder, t0, t1, defs)
        compare_s = round(time.perf_counter() - start, 2)
    change, confusion = result["change"], result["confusion"]
    split = change["causes"]
    diagonal = int(sum(confusion.at[c, c] for c in confusion.index if c in confusion.columns))
    return {"people": people, "seed": seed, "from": str(t0), "to": str(t1), "refresh_s": seconds,
            "compare_s": compare_s, "earlier_cohort": change["before_size"], "moved": split["total"],
            "counts": split["counts"], "shares": {k: round(v, 3) for k, v in split["shares"].items()},
            "not_evidence_share": round(split["not_evidence_share"], 3),
            "old_single_share": round(change["share_reduced_or_removed"], 3),
            "reconciled": diagonal, "not_reconciled": int(len(result["moved"]) - diagonal),
            "confusion": {r: {c: int(v) for c, v in row.items() if v} for r, row in confusion.iterrows()},
            "truth_flags_by_cause": {r: {c: int(v) for c, v in row.items() if v}
                                     for r, row in result["by_flag"].iterrows()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quarters", default="2024Q1..2026Q3")
    args = parser.parse_args()
    print(json.dumps(run(args.people, args.seed, args.quarters)), flush=True)


if __name__ == "__main__":
    main()
