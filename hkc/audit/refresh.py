"""The fairness audit of a refresh: who the cohort falls on, against which baseline, and why.

Runs on every refresh (PRODUCT.md principle 5).  The population audited is everyone in the
extract whose age at the as-of date is within the eligibility range — the people who could have
been listed.  It assembles, with the engine in :mod:`hkc.audit`:

* selection by ethnicity, sex and both, and by the pooled minority ethnic groups (the spec's
  ``[pooled]``; rates, ratios to the reference group, intervals, flags, and what cannot be assessed
  at a county cohort's size);
* cohort composition against three baselines — everyone scored, the resident population
  (``population`` file, age-matched, when present), people convicted of a weapon offence in the
  review window — none privileged, with the MOPAC test (a share above every baseline) in the findings;
* the driver decomposition: mean risk points by indicator per group, and the share from
  intelligence and from proactive (police-generated) indicators;
* a retrospective audit when the extract has a year of history before the as-of date: the cohort
  the same rules would have listed 12 months earlier, against what happened next (a knife-related
  event as offender or suspect within the outcome horizon): error rates and calibration by group.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from hkc.audit.baselines import age_band, age_matched_population, composition_baselines
from hkc.audit.decided import decided_audits
from hkc.audit.drivers import driver_decomposition
from hkc.audit.findings import findings
from hkc.audit.flags import flag_list
from hkc.audit.groups import audit_selection
from hkc.definitions import AuditSpec, Definitions
from hkc.extract import Extract
from hkc.frames import isin
from hkc.matrix import ScoreResult, ages_at, knife_outcome, score_people, select_cohort

__all__ = ['audit_refresh']


def _population_mask(scores: pd.DataFrame, definitions: Definitions) -> np.ndarray:
    e = definitions.settings.eligibility
    return ((scores["age"] >= e.min_age) & (scores["age"] <= e.max_age)).to_numpy()


# Officer-defined codes as ONS 2021 high-level groups (IC5, Chinese and South East Asian, is Asian in the census).
OFFICER_GROUPS = {"IC1": "White", "IC2": "White", "IC3": "Black", "IC4": "Asian", "IC5": "Asian", "IC6": "Other"}
NOT_STATED = "Not stated"


def _ethnicity(scores: pd.DataFrame, officer: pd.Series | None, spec: AuditSpec) -> tuple[pd.Series, int]:
    """Self-defined ethnicity; where it is not stated (and the spec allows), the officer-defined code's
    group.  Returns the column and how many people were filled."""
    ethnicity = scores["ethnicity"].astype(str)
    if officer is None or not spec.attributes.officer_fill:
        return ethnicity, 0
    mapped = officer.astype("string").map(OFFICER_GROUPS).astype(object)
    fill = (ethnicity == NOT_STATED).to_numpy() & mapped.notna().to_numpy()
    return ethnicity.where(~fill, mapped), int(fill.sum())


def _officer(extract: Extract, scores: pd.DataFrame) -> pd.Series | None:
    """The officer-defined code of each scored person, in the order of ``scores`` (None without the column)."""
    people = extract.people
    if "officer_ethnicity" not in people:
        return None
    return scores["person_id"].map(pd.Series(people["officer_ethnicity"].to_numpy(), index=people["person_id"]))


def _groups(scores: pd.DataFrame, spec: AuditSpec) -> pd.DataFrame:
    """The audited attributes of each scored person (ethnicity filled from ``officer_ethnicity`` when present)."""
    groups = scores[["person_id"]].copy()
    officer = scores["officer_ethnicity"] if "officer_ethnicity" in scores else None
    for col in spec.attributes.columns:
        if col == "ethnicity" and col in scores:
            groups[col] = _ethnicity(scores, officer, spec)[0].to_numpy()
        elif col in scores:
            groups[col] = scores[col].astype(str)
    if spec.attributes.age_bands:
        groups["age_band"] = age_band(scores["age"], spec.attributes.age_bands).fillna("other").astype(str)
    return groups.reset_index(drop=True)


def _selection_audit(scores: pd.DataFrame, selected: np.ndarray, spec: AuditSpec, *, outcome: np.ndarray | None,
                     label: str) -> dict:
    groups = _groups(scores, spec)
    frame = groups.assign(selected=selected.astype(int), risk_score=scores["risk_score"].to_numpy())
    if outcome is not None:
        frame["outcome"] = outcome
    by = [c for c in groups.columns if c != "person_id"]
    return audit_selection(frame, selected="selected", by=by, score="risk_score",
                           outcome="outcome" if outcome is not None else None, spec=spec,
                           selection_label=label, population_label="the scored population")


def audit_refresh(*, extract: Extract, scored: ScoreResult, cohort_ids: pd.Series, definitions: Definitions,
                  spec: AuditSpec, as_of: dt.date, chance: dict | None = None, decided: dict | None = None) -> dict:
    """The whole refresh audit as one ``audit.json`` dictionary (see the module docstring).

    ``chance`` is the refresh's backtest of the list against a random draw (:func:`hkc.model.chance_line`,
    aggregates only): kept under ``chance``, its sentence joins the findings and, when the list is not
    shown to beat chance, it is a flag.  ``decided`` holds what the history knows (``periphery_ids``,
    ``listings`` and ``decisions`` of the earlier runs, ``earlier_runs``): with it, the audit covers what is
    decided (:func:`_decided`)."""
    scores = scored.scores.assign(officer_ethnicity=_officer(extract, scored.scores))
    in_population = _population_mask(scores, definitions)
    pop = scores[in_population].reset_index(drop=True)
    selected = pop["person_id"].isin(cohort_ids).to_numpy()
    result = _selection_audit(pop, selected, spec, outcome=None, label="in the cohort")
    result["population"] = {
        "description": (f"everyone in the extract aged {definitions.settings.eligibility.min_age}-"
                        f"{definitions.settings.eligibility.max_age} at {as_of}"),
        "n": int(len(pop)), "cohort": int(selected.sum()),
    }
    if spec.attributes.officer_fill and "ethnicity" in pop:
        ethnicity, filled = _ethnicity(pop, pop["officer_ethnicity"], spec)
        result["population"]["ethnicity"] = (
            f"self-defined; where not stated, the officer-defined code's group ({filled:,} people filled, "
            f"{int((ethnicity == NOT_STATED).sum()):,} still not stated)")
    groups = _groups(pop, spec)

    # Baselines: everyone scored (always), the resident population, proven weapon offenders.
    baselines: dict[str, pd.Series | pd.DataFrame] = {}
    if extract.population is not None and len(extract.population):
        table = extract.population.groupby(["age_band", "sex", "ethnicity"], as_index=False, observed=True)["count"].sum()
        baselines["resident population (age-matched)"] = age_matched_population(table, pop["age"])
    catalogue = definitions.catalogue
    weapon_offences = [c for c, i in catalogue.indicators.items() if i.weapon and not i.intelligence
                       and i.evidence == "outcome"]
    window = definitions.settings.eligibility.review_window_days
    pts = scored.points
    proven = pts.loc[pts["indicator"].isin(weapon_offences).to_numpy() & (pts["outcome"] == "convicted").to_numpy()
                     & (pts["age_days"] <= window).to_numpy(), "person_id"]
    baselines[f"convicted of a weapon offence in the last {window} days"] = \
        pd.Series(isin(pop["person_id"], proven))
    result["baselines"] = composition_baselines(selected, groups, baselines=baselines, spec=spec)

    flags = pd.DataFrame({"indicator": list(catalogue.codes),
                          "intelligence": [i.intelligence for i in catalogue.indicators.values()],
                          "proactive": [i.proactive for i in catalogue.indicators.values()],
                          "label": [i.label for i in catalogue.indicators.values()]})
    contrib = scored.contributions
    contrib = contrib[isin(contrib["person_id"], pop["person_id"])]
    contrib = contrib.assign(indicator=contrib["indicator"].astype(str), axis=contrib["axis"].astype(str))
    result["drivers"] = {}
    for attr in spec.attributes.columns:
        if attr in groups:
            ref = spec.reference.get(attr) or groups[attr].value_counts().idxmax()
            if ref not in set(groups[attr].unique()):
                ref = groups[attr].value_counts().idxmax()
            result["drivers"][attr] = driver_decomposition(contrib, groups[["person_id", attr]], attribute=attr,
                                                           reference=ref, indicator_flags=flags, spec=spec)
    result["retrospective"] = _retrospective(extract, definitions, spec, as_of)
    if decided is not None:
        result["decided"] = _decided(extract, scores, cohort_ids, definitions, spec, as_of, decided)
    result["findings"] = findings(result)
    if chance is not None:
        result["chance"] = chance
        result["findings"].append(chance["sentence"])
    result["flags"] = flag_list(result)  # the one list every output counts (hkc.audit.flags)
    result["as_of"] = as_of.isoformat()
    return result


def _decided(extract: Extract, scores: pd.DataFrame, cohort_ids: pd.Series, definitions: Definitions,
             spec: AuditSpec, as_of: dt.date, decided: dict) -> dict:
    """The periphery, decisions, referrals, additions and removals, and the cumulative audits of the last
    four quarters (:func:`hkc.audit.decided.decided_audits`).  Groups come from everyone scored (people of
    earlier runs absent from this extract are counted as such); the cumulative population is everyone in the
    age range at any of the runs, so a list that takes every eligible person can still be audited."""
    e = definitions.settings.eligibility
    dob, inside = extract.people["date_of_birth"], np.zeros(len(extract.people), bool)
    for day in [*decided["earlier_runs"], as_of]:
        age = ages_at(dob, dt.date.fromisoformat(str(day)[:10]))
        inside |= (age >= e.min_age) & (age <= e.max_age)
    return decided_audits(
        _groups(scores, spec), spec=spec, as_of=as_of, population_ids=scores["person_id"],
        eligible_ids=scores.loc[scores["eligible"].to_numpy(), "person_id"], cohort_ids=cohort_ids,
        periphery_ids=decided["periphery_ids"], listings=decided["listings"], decisions=decided["decisions"],
        earlier_runs=decided["earlier_runs"], cumulative_population_ids=extract.people.loc[inside, "person_id"],
        cumulative_population_words=f"everyone aged {e.min_age}-{e.max_age} at any of these runs")


def _retrospective(extract: Extract, definitions: Definitions, spec: AuditSpec, as_of: dt.date) -> dict:
    """The cohort of 12 months earlier against what happened next, when the history allows."""
    o = definitions.settings.outcome
    earlier = as_of - dt.timedelta(days=o.horizon_days)
    events = extract.events
    if not len(events) or events["date"].min() > np.datetime64(earlier.isoformat(), "s"):
        return {"available": False, "reason": f"the extract has no events on or before {earlier}"}
    settings = definitions.settings
    past = score_people(extract.people, events, catalogue=definitions.catalogue,
                        eligibility=settings.eligibility, as_of=earlier)
    chosen = select_cohort(past.scores, cohort=settings.cohort, rag=settings.rag)
    mask = _population_mask(past.scores, definitions)
    pop = past.scores.assign(officer_ethnicity=_officer(extract, past.scores))[mask].reset_index(drop=True)
    outcome = knife_outcome(events, people=extract.people[mask].reset_index(drop=True), start=earlier,
                            days=o.horizon_days, types=o.types, roles=o.roles)
    selected = pop["person_id"].isin(chosen.members["person_id"]).to_numpy()
    audit = _selection_audit(pop, selected, spec, outcome=outcome, label="in the cohort")
    audit["findings"] = findings(audit)
    return {"available": True, "as_of": earlier.isoformat(), "horizon_days": o.horizon_days,
            "outcome": f"{' or '.join(o.types)} as {' or '.join(o.roles)} within {o.horizon_days} days",
            "cohort_size": int(selected.sum()), "positives": int(outcome.sum()), "audit": audit}
