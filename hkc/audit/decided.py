"""What is decided, audited: the periphery, the meeting's decisions, referrals, additions and removals, and
who was ever listed or adopted over the last four runs.

The refresh audit (:mod:`hkc.audit.refresh`) asks who the cohort falls on.  What reaches people is
more than the cohort: the periphery list goes to partners, the meeting adopts, declines or refers
the people listed, and the list changes between runs (the Met's auditors tracked the share of new
additions by ethnicity).  And at a county's size one quarter's list is too small to tell much: over
the last four runs (everyone eligible in any of them, who was ever listed, who was ever adopted)
the counts are larger.  Each section here is an :func:`hkc.audit.groups.audit_selection` result of
its own, with its findings — the same intervals (exact at small counts), small-cell rule, pooled
comparison and flag rule as the cohort's audit.

Every function takes plain frames (the refresh reads the history with
:mod:`hkc.history.listings`; the audit may not import the history).  Group attributes come from the
current extract's people (``groups``: ``person_id`` and one column per attribute); a person of an
earlier run who is not in this extract gets the group :data:`NOT_IN_EXTRACT` and is counted under
``not_in_extract``, not audited and not silently dropped.

A *section* is ``{"available", "reason", "title", "description", "audit", …}``; sections are grouped
in *containers* (``changes``: additions and removals; ``cumulative``: ever listed and ever adopted;
``decisions``: one section per decision value) that carry no ``available`` key, so
:func:`hkc.audit.flags.flag_list` finds every section's flags.  Descriptions hold no counts (the
partner copy's counts are suppressed; its words are not).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hkc.audit.findings import findings
from hkc.audit.groups import audit_selection
from hkc.definitions import AuditSpec

__all__ = ["NOT_IN_EXTRACT", "DECISION_WORDS", "attach_groups", "periphery_audit", "decisions_audit",
           "changes_audit", "cumulative_audit", "decided_audits"]

NOT_IN_EXTRACT = "not in this extract"
# What each decision value is called in the findings ("... as likely as White people to be declined at the meeting").
DECISION_WORDS = {"adopt": "adopted at the meeting", "monitor": "put on monitoring at the meeting",
                  "decline": "declined at the meeting", "refer": "referred on at the meeting",
                  "close": "had their case closed at the meeting",
                  "remove": "removed on review", "remove_on_review": "removed on review"}
DECISION_ORDER = tuple(DECISION_WORDS)
NO_EARLIER_RUN = "no earlier run in the history"


# --------------------------------------------------------------------------------------------
# Shared pieces


def _ids(values: Iterable[Any] | None) -> list[str]:
    """Distinct ids as text, in first-seen order."""
    return [] if values is None else list(dict.fromkeys(str(v) for v in values))


def _table(groups: pd.DataFrame) -> pd.DataFrame:
    """``groups`` indexed by ``person_id`` (text, one row each), its group values as text; a frame
    already so indexed is returned as it is (:func:`decided_audits` prepares it once for every section)."""
    if groups.index.name == "person_id" and "person_id" not in groups.columns:
        return groups
    table = groups.assign(person_id=groups["person_id"].astype(str)).drop_duplicates("person_id")
    table = table.set_index("person_id").astype(str)
    # a plain object index keeps its hash table between look-ups (pandas' text index rebuilds it each time)
    table.index = pd.Index(table.index.to_numpy(dtype=object), dtype=object, name="person_id")
    return table


def attach_groups(ids: Iterable[Any], groups: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct id with its group columns from ``groups`` (the current extract's people);
    an id the extract does not hold gets :data:`NOT_IN_EXTRACT` in every column."""
    table = _table(groups)
    index = pd.Index(_ids(ids), dtype=object, name="person_id")
    where = table.index.get_indexer(index)
    missing = where < 0
    out = table.iloc[np.where(missing, 0, where)].set_axis(index) if len(table) else table.reindex(index)
    if missing.any():
        out.loc[missing] = NOT_IN_EXTRACT
    out = out.reset_index()
    out["_missing"] = missing
    return out


def _unavailable(reason: str, *, title: str, description: str = "") -> dict[str, Any]:
    return {"available": False, "reason": reason, "title": title, "description": description}


def _section(population: Sequence[str], selected: set[str], groups: pd.DataFrame, spec: AuditSpec, *,
             title: str, description: str, selection_label: str, population_label: str,
             empty: str) -> dict[str, Any]:
    """Audit who in ``population`` is in ``selected``, by group: a section with its audit and findings.

    People not in this extract are counted (``not_in_extract``: how many, how many selected) and
    left out of the audit; when nobody is left the section is unavailable with ``empty``.
    """
    frame = attach_groups(population, groups)
    frame["selected"] = frame["person_id"].isin(selected).to_numpy()
    missing = frame["_missing"].to_numpy()
    absent = {"n": int(missing.sum()), "selected": int(frame.loc[missing, "selected"].sum())}
    known = frame[~missing].drop(columns="_missing").reset_index(drop=True)
    if known.empty:
        return _unavailable(empty if not missing.any() else f"{empty}; everyone concerned has left this extract",
                            title=title, description=description) | {"not_in_extract": absent}
    result = audit_selection(known, selected="selected", by=list(_table(groups).columns), spec=spec,
                             selection_label=selection_label, population_label=population_label,
                             where=title)
    result["findings"] = findings(result)
    return {"available": True, "reason": None, "title": title, "description": description,
            "not_in_extract": absent, "audit": result}


def _when(as_of: Any, word: str = "of") -> str:
    return f" {word} {as_of}" if as_of is not None else ""


# --------------------------------------------------------------------------------------------
# The sections


def periphery_audit(groups: pd.DataFrame, population_ids: Iterable[Any], periphery_ids: Iterable[Any],
                    spec: AuditSpec, *, cohort_ids: Iterable[Any] = (), as_of: Any = None,
                    population_words: str = "the extract's population") -> dict[str, Any]:
    """Who is put on the periphery list (sent to partners), by group, among ``population_ids`` outside the cohort.

    The periphery is the people linked to cohort members who are not in the cohort, so cohort
    members (``cohort_ids``) are left out of the population.  People on the periphery who are not
    in the population are counted under ``outside_population`` (none when the population is
    everyone in the extract).
    """
    title = "the periphery list"
    cohort = set(_ids(cohort_ids))
    population = [p for p in _ids(population_ids) if p not in cohort]
    periphery = set(_ids(periphery_ids)) - cohort
    description = (f"{population_words}{_when(as_of, 'at')} outside the cohort; selected: put on the periphery list, "
                   f"which goes to partners")
    if not periphery:
        return _unavailable("nobody is on the periphery list this run", title=title, description=description)
    section = _section(population, periphery, groups, spec, title=title, description=description,
                       selection_label="put on the periphery list",
                       population_label=f"{population_words} outside the cohort",
                       empty="nobody to audit outside the cohort")
    section["outside_population"] = len(periphery - set(population))
    return section


def _latest(decisions: pd.DataFrame) -> pd.DataFrame:
    """Each person's latest decision (by meeting date, then the order stored)."""
    order = [c for c in ("as_of", "meeting_date", "decision_id") if c in decisions.columns]
    frame = decisions.assign(person_id=decisions["person_id"].astype(str),
                             decision=decisions["decision"].astype(str).str.strip().str.lower())
    if order:
        frame = frame.sort_values(order, kind="stable")
    return frame.drop_duplicates("person_id", keep="last").reset_index(drop=True)


def _value_order(values: Iterable[str]) -> list[str]:
    values = set(values)
    return [v for v in DECISION_ORDER if v in values] + sorted(values - set(DECISION_ORDER))


def decisions_audit(groups: pd.DataFrame, decisions: pd.DataFrame | None, spec: AuditSpec, *,
                    listed_ids: Iterable[Any] | None = None, as_of: Any = None) -> dict[str, Any]:
    """The meeting's decisions about the listed people of a run, by group: each decision value's rate
    among the people decided about (adopt, monitor, decline, refer, and any other value present).

    ``decisions``: ``person_id`` and ``decision`` (with ``meeting_date`` / ``decision_id`` the latest
    decision per person counts), for one run (``as_of``).  With ``listed_ids`` (that run's list),
    decisions about anyone else (the periphery, people removed) are left out and counted under
    ``not_listed``.  Returns a container: ``values_present`` (the decision values found),
    ``description`` and ``by_decision`` (one section per value); or, with nothing to audit, an
    unavailable section with its reason.
    """
    title = "decisions"
    description = (f"the listed people of the run{_when(as_of)} the meeting decided about (each person's latest "
                   f"decision); each decision's rate among them, by group")
    if decisions is None or decisions.empty:
        return _unavailable(f"no decisions recorded for the run{_when(as_of)}", title=title, description=description)
    latest = _latest(decisions)
    not_listed = 0
    if listed_ids is not None:
        listed = set(_ids(listed_ids))
        keep = latest["person_id"].isin(listed)
        not_listed = int((~keep).sum())
        latest = latest[keep]
    if latest.empty:
        return _unavailable(f"no decisions recorded about the listed people of the run{_when(as_of)}", title=title,
                            description=description) | {"not_listed": not_listed}
    values = _value_order(latest["decision"].unique())
    population = latest["person_id"].tolist()
    by_decision = {}
    for value in values:
        words = DECISION_WORDS.get(value, f"given the decision '{value}'")
        by_decision[value] = _section(
            population, set(latest.loc[latest["decision"] == value, "person_id"]), groups, spec,
            title=f"decisions of the meeting ({value})", description=f"{description}; selected: {words}",
            selection_label=words,
            population_label=f"the list{_when(as_of)} (those the meeting decided about)",
            empty="nobody decided about is in this extract")
    return {"title": title, "description": description, "values_present": values, "not_listed": not_listed,
            "by_decision": by_decision}


def changes_audit(groups: pd.DataFrame, current_ids: Iterable[Any], previous_ids: Iterable[Any] | None,
                  spec: AuditSpec, *, eligible_ids: Iterable[Any], as_of: Any = None,
                  previous_as_of: Any = None) -> dict[str, Any]:
    """Additions and removals between the previous run's list and this one, by group.

    ``additions``: among the people eligible now who were not listed last time, who is listed now
    (the share of additions by group is :func:`selected_shares` of its audit).  ``removals``: among
    last run's list, who is not listed now.  ``previous_ids`` is None when there is no earlier run.
    """
    add_title, rem_title = "additions to the list", "removals from the list"
    before = f"the run{_when(previous_as_of)}" if previous_as_of is not None else "the previous run"
    add_words = f"everyone eligible{_when(as_of, 'at')} who was not listed in {before}; selected: listed now (an addition)"
    rem_words = f"the list of {before}; selected: not listed now (a removal)"
    if previous_ids is None:
        return {"additions": _unavailable(NO_EARLIER_RUN, title=add_title, description=add_words),
                "removals": _unavailable(NO_EARLIER_RUN, title=rem_title, description=rem_words)}
    current, previous = set(_ids(current_ids)), _ids(previous_ids)
    before_set = set(previous)
    candidates = [p for p in _ids([*_ids(eligible_ids), *current]) if p not in before_set]
    if not candidates:
        additions = _unavailable(f"everyone eligible was listed in {before}", title=add_title, description=add_words)
    elif not current - before_set:
        additions = _unavailable("nobody was added to the list this run", title=add_title, description=add_words)
    else:
        additions = _section(candidates, current, groups, spec, title=add_title, description=add_words,
                             selection_label="added to the list",
                             population_label=f"the eligible population not listed in {before}",
                             empty="nobody eligible and not listed before is in this extract")
    if not previous:
        removals = _unavailable(f"{before} listed nobody", title=rem_title, description=rem_words)
    else:
        removals = _section(previous, before_set - current, groups, spec, title=rem_title, description=rem_words,
                            selection_label="removed from the list", population_label=f"the list of {before}",
                            empty="nobody on the earlier list is in this extract")
    return {"additions": additions, "removals": removals}


def _truthy(column: pd.Series) -> pd.Series:
    return column.fillna(False).astype(bool)


def cumulative_audit(groups: pd.DataFrame, listings: pd.DataFrame, decisions: pd.DataFrame | None,
                     spec: AuditSpec, quarters: int = 4, *, runs: Sequence[Any] | None = None,
                     population_ids: Iterable[Any] | None = None,
                     population_words: str = "the population in the age range") -> dict[str, Any]:
    """Who was ever listed, and ever adopted, over the last ``quarters`` runs, by group.

    ``listings``: ``as_of, person_id, eligible, in_cohort`` for the runs (the current one included;
    rows of people neither eligible nor listed may be left out).  The last ``quarters`` distinct
    as-of dates of ``runs`` (default: those in ``listings``) are used.  The population is everyone
    eligible (or listed) in any of them; ``ever_listed``: listed in any; ``ever_adopted``: an
    ``adopt`` decision about a run among them (``decisions``: ``as_of, person_id, decision``).  One
    run alone is no cumulative audit: with no earlier run both sections are unavailable.

    With ``population_ids`` (e.g. everyone in the extract within the age range at any of the runs'
    dates, named by ``population_words``) the population is those people and everyone eligible or
    listed: among the eligible alone, a list that takes everyone eligible would show no disparity
    however unequal eligibility is.
    """
    listed_title, adopted_title = "ever listed", "ever adopted"
    stored = listings["as_of"].astype(str) if len(listings) else pd.Series([], dtype=str)
    runs = sorted({str(r) for r in (runs if runs is not None else stored)} | set(stored))[-quarters:]
    span = f"the {len(runs)} runs from {runs[0]} to {runs[-1]}" if len(runs) > 1 else "the last runs"
    whole = population_ids is not None
    population_label = f"{population_words} at {span}" if whole else f"the eligible population of {span}"
    who = f"{population_words} at any of {span}, and everyone eligible" if whole else f"everyone eligible at any of {span}"
    listed_words = f"{who}; selected: listed at least once"
    adopted_words = f"{who}; selected: adopted at a meeting about one of those runs"
    out: dict[str, Any] = {"title": f"over the last {quarters} runs", "runs": runs}
    if len(runs) < 2:
        reason = NO_EARLIER_RUN if runs else "no run in the history"
        return out | {"ever_listed": _unavailable(reason, title=listed_title, description=listed_words),
                      "ever_adopted": _unavailable(reason, title=adopted_title, description=adopted_words)}
    window = listings[stored.isin(runs).to_numpy()] if len(listings) else listings
    population: list[str] = []
    ever: set[str] = set()
    if len(window):
        ids = window["person_id"].astype(str)
        in_cohort = _truthy(window["in_cohort"]).to_numpy()
        population = _ids(ids[_truthy(window["eligible"]).to_numpy() | in_cohort])
        ever = set(ids[in_cohort])
    if whole:
        population = _ids([*_ids(population_ids), *population])
    if not population:
        why = "nobody was eligible in these runs"
        return out | {"ever_listed": _unavailable(why, title=listed_title, description=listed_words),
                      "ever_adopted": _unavailable(why, title=adopted_title, description=adopted_words)}
    out["ever_listed"] = _section(population, ever, groups, spec, title=f"{listed_title} ({span})",
                                  description=listed_words, selection_label="listed at least once",
                                  population_label=population_label, empty="nobody eligible in these runs")
    about = (decisions[decisions["as_of"].astype(str).isin(runs).to_numpy()]
             if decisions is not None and len(decisions) else None)
    if about is None or about.empty:
        out["ever_adopted"] = _unavailable("no decisions recorded for these runs", title=adopted_title,
                                           description=adopted_words)
        return out
    adopt = about["decision"].astype(str).str.strip().str.lower() == "adopt"
    adopted = set(about.loc[adopt.to_numpy(), "person_id"].astype(str))
    out["ever_adopted"] = _section(population, adopted, groups, spec, title=f"{adopted_title} ({span})",
                                   description=adopted_words, selection_label="adopted at least once",
                                   population_label=population_label, empty="nobody eligible in these runs")
    out["ever_adopted"]["outside_population"] = len(adopted - set(population))
    return out


# --------------------------------------------------------------------------------------------
# Everything together, and walking it


def decided_audits(groups: pd.DataFrame, *, spec: AuditSpec, as_of: Any, population_ids: Iterable[Any],
                   eligible_ids: Iterable[Any], cohort_ids: Iterable[Any], periphery_ids: Iterable[Any],
                   listings: pd.DataFrame | None = None, decisions: pd.DataFrame | None = None,
                   earlier_runs: Sequence[Any] | None = None, quarters: int = 4,
                   population_words: str = "the extract's population",
                   cumulative_population_ids: Iterable[Any] | None = None,
                   cumulative_population_words: str = "the population in the age range") -> dict[str, Any]:
    """Every audit of what is decided, as ``audit["decided"]``.

    ``groups``: the current extract's people (``person_id`` and the attribute columns);
    ``population_ids``, ``eligible_ids``, ``cohort_ids``, ``periphery_ids``: this run's;
    ``listings``: the earlier runs' ``as_of, person_id, eligible, in_cohort``
    (:func:`hkc.history.listings.recent_listings`; this run's rows are added here);
    ``decisions``: the decisions about those runs (:func:`hkc.history.listings.decisions_for_runs`);
    ``earlier_runs``: their as-of dates (default: those in ``listings``; pass them so a run that
    listed nobody still counts as the previous run); ``cumulative_population_ids``: see
    :func:`cumulative_audit`'s ``population_ids``.

    Returns ``{"periphery", "decisions", "referrals", "changes": {"additions", "removals"},
    "cumulative": {"ever_listed", "ever_adopted"}}``; referrals are the ``refer`` decisions (moved
    out of ``decisions`` so that no flag is counted twice).
    """
    as_of, groups = str(as_of), _table(groups)
    columns = ["as_of", "person_id", "eligible", "in_cohort"]
    earlier = listings[columns] if listings is not None and len(listings) else pd.DataFrame(columns=columns)
    earlier = earlier[earlier["as_of"].astype(str) < as_of]
    runs = sorted({str(r) for r in (earlier_runs if earlier_runs is not None else [])}
                  | set(earlier["as_of"].astype(str)))
    runs = [r for r in runs if r < as_of]
    previous_as_of = runs[-1] if runs else None
    previous_ids = (earlier.loc[(earlier["as_of"].astype(str) == previous_as_of) & _truthy(earlier["in_cohort"]),
                                "person_id"].astype(str).tolist() if previous_as_of else None)
    cohort, eligible = _ids(cohort_ids), _ids(eligible_ids)
    current = pd.DataFrame({"as_of": as_of, "person_id": pd.Series(_ids([*eligible, *cohort]), dtype=object)})
    current["eligible"] = current["person_id"].isin(set(eligible))
    current["in_cohort"] = current["person_id"].isin(set(cohort))
    window = pd.concat([earlier, current], ignore_index=True) if len(earlier) else current
    previous_decisions = None
    if decisions is not None and not decisions.empty and previous_as_of is not None:
        previous_decisions = decisions[decisions["as_of"].astype(str) == previous_as_of]
    decided = decisions_audit(groups, previous_decisions, spec, listed_ids=previous_ids, as_of=previous_as_of)
    if previous_as_of is None:
        decided["reason"] = NO_EARLIER_RUN
    referrals = decided.get("by_decision", {}).pop("refer", None)
    if referrals is not None:
        referrals["title"] = "referrals"
    else:
        referrals = _unavailable(decided.get("reason") or f"nobody listed in the run of {previous_as_of} was referred",
                                 title="referrals", description="the listed people the meeting decided about; "
                                                                 "selected: referred on at the meeting")
    return {"periphery": periphery_audit(groups, population_ids, periphery_ids, spec, cohort_ids=cohort, as_of=as_of,
                                         population_words=population_words),
            "decisions": decided, "referrals": referrals,
            "changes": changes_audit(groups, cohort, previous_ids, spec, eligible_ids=eligible, as_of=as_of,
                                     previous_as_of=previous_as_of),
            "cumulative": cumulative_audit(groups, window, decisions, spec, quarters=quarters, runs=[*runs, as_of],
                                           population_ids=cumulative_population_ids,
                                           population_words=cumulative_population_words)}
