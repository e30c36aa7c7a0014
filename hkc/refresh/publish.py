"""Publishing a refresh: every output file written into the folder, and the packs logged.

:func:`write_outputs` fills the temporary folder that :func:`hkc.outputs.atomic_folder` later swaps
into place; :func:`packs_to_log` lists what the disclosure log records for it (the police view, and
each partner pack written: the partnership's and every agency's, each a separate entry naming its
agency).  Every file says a person's movement in the same words (:func:`hkc.messages.movement_words`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hkc.audit import write_audit
from hkc.definitions import Definitions
from hkc.extract import Extract
from hkc.frames import iso_dates, sort_order, text_rank
from hkc.history import StoredRun
from hkc.manifest import RunManifest, now
from hkc.matrix import Cohort, PeerMap, ScoreResult
from hkc.messages import movement_words
from hkc.outputs import file_hashes, write_csv
from hkc.partnership import pack_facts, write_html, write_partner_pack, write_xlsx
from hkc.refresh.frames import dates_as_text, rules_text

__all__ = ["Listing", "Published", "write_outputs", "packs_to_log"]


@dataclass
class Listing:
    """What scoring, ranking and mapping produced for one as-of date."""

    extract: Extract
    scored: ScoreResult
    chosen: Cohort
    previous: StoredRun | None
    members: pd.DataFrame
    gone: pd.DataFrame
    peer_map: PeerMap
    decisions: pd.DataFrame
    model_note: str | None = None
    model_audit: dict | None = None
    rekeys: pd.DataFrame | None = None  # probable re-keys (hkc.matrix.probable_rekeys): not counted as removed
    open_cases: pd.DataFrame | None = None  # open cases not listed now (hkc.refresh.frames.open_cases_frame)
    referrals: pd.DataFrame | None = None  # partners' referrals of the last year (hkc.history.recent_referrals)


@dataclass
class Published:
    """What :func:`write_outputs` wrote that the history keeps too."""

    contributions: pd.DataFrame
    evidence: pd.DataFrame
    partner: dict | None


def _evidence_tables(scored: ScoreResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contributions and evidence sorted by person id (as text), then as a reader expects."""
    id_rank = np.zeros(int(scored.scores["person_idx"].to_numpy().max(initial=-1)) + 1, dtype=np.int64)
    id_rank[scored.scores["person_idx"].to_numpy()] = text_rank(scored.scores["person_id"])  # computed once
    c = scored.contributions
    contrib = c.iloc[sort_order([id_rank[c["person_idx"].to_numpy()], c["axis"].cat.codes.to_numpy(),
                                 -c["points"].to_numpy(), c["indicator"].cat.codes.to_numpy()])]
    contrib = contrib.drop(columns="person_idx").assign(latest=iso_dates(contrib["latest"]))
    p = scored.points
    evidence = p.iloc[sort_order([id_rank[p["person_idx"].to_numpy()], p["date"].to_numpy().view(np.int64)],
                                 tiebreak=p["event_id"])]
    evidence = evidence.drop(columns="person_idx").assign(date=iso_dates(evidence["date"]))
    return contrib, evidence


def _police_pack(folder: Path, run: Listing, manifest: RunManifest, definitions: Definitions) -> None:
    peer_map = run.peer_map
    facts = pack_facts(members=run.members, removed=run.gone, manifest=manifest.as_dict() | {"finished_at": now()},
                       rules=rules_text(definitions), previous_as_of=run.previous.as_of if run.previous else None,
                       periphery=peer_map.periphery, peer_groups=peer_map.peer_groups, places=peer_map.places,
                       peer_edges=peer_map.edges.rename(columns={"person_a": "source", "person_b": "target"}),
                       outputs=definitions.settings.outputs, open_cases=run.open_cases,
                       referrals=run.referrals)
    write_html(facts, folder / "cohort.html")
    write_xlsx(facts, folder / "cohort.xlsx")


def write_outputs(folder: Path, run: Listing, *, manifest: RunManifest, scores: pd.DataFrame, audit: dict,
                  partner_audit: dict, definitions: Definitions, as_of: dt.date, key: bytes | None,
                  demo_key: bool) -> Published:
    """Write every output of the refresh into ``folder`` (the temporary folder being published)."""
    write_csv(run.members.assign(movement=run.members["movement"].map(movement_words)), folder / "cohort.csv")
    scores.to_parquet(folder / "scores.parquet", index=False)
    contrib, evidence = _evidence_tables(run.scored)
    write_csv(contrib, folder / "contributions.csv")
    evidence.to_parquet(folder / "evidence.parquet", index=False)
    write_csv(run.extract.rejects, folder / "rejects.csv")
    write_csv(run.gone, folder / "removed.csv")
    if run.open_cases is not None:
        write_csv(run.open_cases, folder / "open_cases.csv")
    write_csv(dates_as_text(run.peer_map.periphery), folder / "periphery.csv")
    write_csv(run.peer_map.peer_groups, folder / "peer_groups.csv")
    write_csv(dates_as_text(run.peer_map.places), folder / "places.csv")
    _police_pack(folder, run, manifest, definitions)
    title = f"Fairness audit of the cohort as of {as_of}"
    write_audit(audit, folder / "audit", title=title)
    partner = None
    if key is not None:
        write_audit(partner_audit, folder / "partner" / "audit", title=title + " (partner copy, small cells suppressed)")
        partner = _partner_packs(folder, run, manifest, definitions, key, demo_key)
    return Published(contributions=contrib, evidence=evidence, partner=partner)


def _partner_packs(folder: Path, run: Listing, manifest: RunManifest, definitions: Definitions, key: bytes,
                   demo_key: bool) -> dict:
    """The partnership's pack (unless ``[partner] meeting_pack = false``) and one pack per agency.

    Returns the first pack's result (the partnership's when written) with ``packs``: every pack's
    result, and ``scrubbed`` / ``withheld`` summed over them.
    """
    settings, p = definitions.settings.partner, run.peer_map
    scores = run.scored.scores
    common = {"members": run.members, "removed": run.gone, "manifest": manifest.as_dict(),
              "all_person_ids": run.extract.people["person_id"], "settings": settings, "key": key,
              "peer_groups": p.peer_groups, "periphery": p.periphery, "places": p.places,
              "decisions_history": run.decisions, "demo": demo_key, "outputs": definitions.settings.outputs,
              "peer_edges": p.edges.rename(columns={"person_a": "source", "person_b": "target"}),
              "interventions": definitions.settings.interventions}
    packs = [write_partner_pack(folder, **common, open_cases=run.open_cases, referrals=run.referrals)] \
        if settings.meeting_pack or not settings.agencies else []  # open cases: the partnership's pack only
    if settings.agencies:
        areas = dict(zip(scores["person_id"].astype(str), scores["area"].astype(str), strict=True))
        packs += [write_partner_pack(folder, **common, agency=a.name, person_areas=areas) for a in settings.agencies]
    return packs[0] | {"packs": packs, "scrubbed": sum(k["scrubbed"] for k in packs),
                       "withheld": sum(k["withheld"] for k in packs)}


def packs_to_log(folder: Path, run: Listing, partner: dict | None, *, by: str) -> list[dict]:
    """The disclosure-log entries for this run's packs: who is in each, and the files' hashes.

    Each partner pack is its own entry; an agency's names the agency (``agency``, and its files are
    under ``partner/<agency>/``).
    """
    cases = set() if run.open_cases is None else set(run.open_cases["person_id"])
    referred = set() if run.referrals is None else set(run.referrals["person_id"].dropna())
    people = sorted(set(run.members["person_id"]) | set(run.gone["person_id"])
                    | set(run.peer_map.periphery["person_id"]) | cases | referred)
    packs = [{"audience": "police", "files": file_hashes(folder, ["cohort.csv", "cohort.html", "cohort.xlsx"]),
              "person_ids": people, "by": by}]
    for pack in ([] if partner is None else partner.get("packs", [partner])):
        packs.append({"audience": "partner", "agency": pack.get("agency"), "files": pack["files"],
                      "person_ids": pack["person_ids"], "by": by})
    return packs
