"""The quarterly refresh: validate → features → score → cohort → outputs → history.

>>> result = run_refresh("extract/", as_of=date(2026, 9, 30), out=Path("out"),   # doctest: +SKIP
...                      definitions=load_definitions())

The output folder is written atomically (see :func:`hkc.outputs.folder.atomic_folder`) and the run is
stored in the history database in one transaction, so a failed run changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import hashlib
import json
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from hkc import __version__
from hkc.audit import audit_metrics, audit_refresh, suppress_small_cells, write_audit
from hkc.definitions import Definitions, refresh_audit_spec
from hkc.extract import Extract, check_capacity, load_extract, probe_extract
from hkc.frames import isin, iso_dates, sort_order, text_rank
from hkc.history import open_store
from hkc.matrix import (
    PeerMap,
    ScoreResult,
    map_peers,
    movement,
    rationale,
    removed_people,
    score_people,
    select_cohort,
    vulnerability_bands,
)
from hkc.model import load_champion, score_with_model
from hkc.outputs import atomic_folder, file_hashes, output_lock, write_csv, write_json
from hkc.partnership import (
    PseudonymKeyError,
    decision_history,
    pack_facts,
    partner_key,
    write_html,
    write_partner_pack,
    write_xlsx,
)
from hkc.tracking import log_run

__all__ = ["RefreshResult", "run_refresh", "config_fingerprint", "COHORT_COLUMNS", "SCORES_COLUMNS"]

COHORT_COLUMNS = ["rank", "person_id", "risk_score", "rag", "vulnerability_score", "age", "sex", "ethnicity", "area",
                  "movement", "rationale", "vulnerability_band", "vulnerability_rationale", "latest_weapon_date",
                  "peer_group", "decisions", "latest_decision", "latest_meeting_date", "latest_reason", "declined"]
PartnerPack = Literal["auto", "yes", "no"]
SCORES_COLUMNS = ["person_id", "risk_score", "vulnerability_score", "eligible", "in_cohort", "priority_rank",
                  "reason", "age", "sex", "ethnicity", "area"]


@dataclass
class RefreshResult:
    as_of: dt.date
    out: Path
    manifest: dict
    members: pd.DataFrame
    removed: pd.DataFrame
    extract: Extract
    scored: ScoreResult
    run_id: int
    replaced: bool
    audit: dict = field(default_factory=dict)
    tracking: dict = field(default_factory=dict)
    peers: PeerMap | None = None
    partner: dict | None = None
    stages: dict[str, float] = field(default_factory=dict)


def config_fingerprint(definitions: Definitions) -> str:
    """SHA-256 of the effective settings and catalogue (their values, not their formatting)."""
    def plain(obj):
        if dataclasses.is_dataclass(obj):
            return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                    if f.name not in ("path", "sha256")}
        if isinstance(obj, dict) or hasattr(obj, "items"):
            return {k: plain(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [plain(v) for v in obj]
        return obj
    payload = {"settings": plain(definitions.settings), "catalogue": plain(definitions.catalogue)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent.parent
    if not (here / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class _Stages:
    """Times each stage and reports progress."""

    def __init__(self, progress: Callable[[str], None]):
        self.progress = progress
        self.seconds: dict[str, float] = {}

    def run(self, name: str, description: str, fn, *args, **kwargs):
        self.progress(f"{description} …")
        start = time.perf_counter()
        value = fn(*args, **kwargs)
        self.seconds[name] = round(time.perf_counter() - start, 3)
        self.progress(f"{description}: done in {self.seconds[name]:.1f}s")
        return value


def _cohort_frame(scored: ScoreResult, members: pd.DataFrame, previous: pd.DataFrame | None,
                  definitions: Definitions) -> pd.DataFrame:
    members = members.copy()
    members["movement"] = movement(members, previous)
    ids = members["person_id"].tolist()
    members["rationale"] = members["person_id"].map(rationale(ids, scored, catalogue=definitions.catalogue))
    members["vulnerability_rationale"] = members["person_id"].map(
        rationale(ids, scored, catalogue=definitions.catalogue, axis="vulnerability"))
    members["vulnerability_band"] = vulnerability_bands(members["vulnerability_score"].to_numpy(),
                                                        settings=definitions.settings.vulnerability)
    members["latest_weapon_date"] = pd.to_datetime(members["latest_weapon_date"]).dt.strftime("%Y-%m-%d")
    return members[COHORT_COLUMNS[:COHORT_COLUMNS.index("peer_group")]]


def _scores_frame(scored: ScoreResult, ranked: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    frame = scored.scores.copy()
    frame["in_cohort"] = frame["person_id"].isin(members["person_id"])
    rank = ranked.set_index("person_id")["priority_rank"]
    frame["priority_rank"] = frame["person_id"].map(rank).astype("Int64")
    cut = frame["eligible"] & ~frame["in_cohort"]
    frame.loc[cut, "reason"] = "eligible; below the cohort cut-off (priority rank " + \
        frame.loc[cut, "priority_rank"].astype(str) + ")"
    for col in ("sex", "ethnicity"):
        frame[col] = frame[col].astype(str)
    return frame.sort_values("person_id", kind="stable")[SCORES_COLUMNS].reset_index(drop=True)


def run_refresh(data_dir: str | Path, *, as_of: dt.date, out: Path, definitions: Definitions,
                db_url: str | None = None, extract_date: dt.date | None = None,
                progress: Callable[[str], None] | None = None, partner_pack: PartnerPack = "auto",
                by: str | None = None, demo_key: bool = False) -> RefreshResult:
    """Run the whole refresh for ``as_of`` and write ``out``; see the module docstring.

    Holds a lock on ``out`` for the whole run: a second refresh to the same folder exits at once.
    ``partner_pack``: "auto" writes the pseudonymised partner pack when the key is set (and says
    so when it is not), "yes" requires it, "no" skips it.  ``by`` names who ran the refresh in the
    disclosure log (default: the operating-system user).  ``demo_key`` uses the labelled demo key.
    """
    with output_lock(out):
        return _refresh(data_dir, as_of=as_of, out=out, definitions=definitions, db_url=db_url,
                        extract_date=extract_date, progress=progress, partner_pack=partner_pack,
                        by=by or _user(), demo_key=demo_key)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "unknown"


def _partner_key(definitions: Definitions, mode: PartnerPack, demo: bool, say) -> bytes | None:
    if mode == "no":
        return None
    try:
        return partner_key(definitions.settings.partner, demo=demo)
    except PseudonymKeyError as exc:
        if mode == "yes":
            raise
        say(exc.message)
        return None


def _refresh(data_dir: str | Path, *, as_of: dt.date, out: Path, definitions: Definitions, db_url: str | None,
             extract_date: dt.date | None, progress: Callable[[str], None] | None, partner_pack: PartnerPack,
             by: str, demo_key: bool) -> RefreshResult:
    say = progress or (lambda _m: None)
    started = _now()
    stages = _Stages(say)
    settings = definitions.settings
    key = _partner_key(definitions, partner_pack, demo_key, say)  # before any work: a missing key fails fast
    day = extract_date or max(as_of, dt.date.today())
    probe_extract(data_dir, catalogue=definitions.catalogue, extract_date=day)  # garbage is refused as garbage
    say(check_capacity(data_dir).describe())  # an extract too big for this machine stops here, not in an OOM kill
    store = open_store(db_url or definitions.database_url())
    confirmed, dropped = store.settle_disclosures(out)  # what a killed refresh to this folder left pending
    if confirmed or dropped:
        say(f"an interrupted refresh to {out} had logged {confirmed + dropped} pack(s): {confirmed} had been "
            f"published (kept in the disclosure log), {dropped} never were (removed from it)")
    extract = stages.run("validate", "loading and validating the extract", load_extract, data_dir,
                         catalogue=definitions.catalogue, extract_date=day,
                         progress=say)
    scored = stages.run("score", f"scoring {len(extract.people):,} people as of {as_of}", score_people,
                        extract.people, extract.events, catalogue=definitions.catalogue,
                        eligibility=settings.eligibility, as_of=as_of)

    def build_cohort():
        chosen = select_cohort(scored.scores, cohort=settings.cohort, rag=settings.rag)
        prev_run = store.previous_run(as_of)
        previous = store.cohort(prev_run.run_id) if prev_run else None
        members = _cohort_frame(scored, chosen.members, previous, definitions)
        gone = removed_people(chosen.members, previous, scored.scores, chosen.ranked, cohort=settings.cohort)
        return chosen, prev_run, members, gone

    chosen, prev_run, members, gone = stages.run("cohort", "ranking the cohort", build_cohort)
    peer_map = stages.run("peers", "mapping peers, the periphery and places", map_peers, extract, scored,
                          members["person_id"].tolist(), settings=settings.peers, places=settings.places,
                          catalogue=definitions.catalogue, as_of=as_of)
    decisions = decision_history(store, members["person_id"].tolist() + peer_map.periphery["person_id"].tolist())
    members = _with_peers_and_decisions(members, peer_map, decisions)
    model_note, model_audit = None, None
    if settings.model.enabled:
        members, model_note, model_audit = stages.run("model", "adding the champion model's probabilities",
                                                      _with_model, members, extract, definitions, as_of)
        say(model_note)
    spec = refresh_audit_spec(definitions)
    audit = stages.run("audit", f"auditing fairness ({spec.bootstrap.resamples:,} bootstrap resamples)",
                       audit_refresh, extract=extract, scored=scored, cohort_ids=members["person_id"],
                       definitions=definitions, spec=spec, as_of=as_of)
    if model_audit is not None:  # the champion's calibration and error rates by group on its test snapshot
        audit["model"] = model_audit
    partner_audit = suppress_small_cells(audit, threshold=spec.disclosure.small_cell)
    scores_out = _scores_frame(scored, chosen.ranked, chosen.members)
    inputs_sha = hashlib.sha256("".join(f"{k}:{v};" for k, v in sorted(extract.sha256.items())).encode()).hexdigest()
    manifest = {
        "as_of": as_of.isoformat(),
        "extract_date": extract.extract_date.isoformat() if extract.extract_date else None,
        "data_dir": str(Path(data_dir).resolve()),
        "inputs": {name: {"file": path.name, "sha256": extract.sha256[name]} for name, path in extract.files.items()},
        "inputs_sha256": inputs_sha,
        "counts": extract.counts,
        "extra_columns": extract.extra_columns,
        "scored": int(len(scored.scores)),
        "eligible": int(len(chosen.ranked)),
        "cohort_size": int(len(members)),
        "removed": int(len(gone)),
        "model": model_note,
        "periphery": int(len(peer_map.periphery)),
        "peer_groups": int(peer_map.peer_groups["peer_group"].nunique()),
        "places": int(len(peer_map.places)),
        "previous_as_of": prev_run.as_of.isoformat() if prev_run else None,
        "config_sha256": config_fingerprint(definitions),
        "config_files": {"settings": {"path": str(settings.path), "sha256": settings.sha256},
                         "catalogue": {"path": str(definitions.catalogue.path),
                                       "sha256": definitions.catalogue.sha256,
                                       "version": definitions.catalogue.version}},
        "definitions": definitions.describe(),
        "audit": {"spec_sha256": spec.digest(), "flags": len(audit.get("flags", [])),
                  "findings": len(audit.get("findings", [])),
                  "retrospective": bool(audit.get("retrospective", {}).get("available"))},
        "hkc_version": __version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "database": store.url,
        "started_at": started,
    }

    def write_outputs(folder: Path):
        members_out = members.copy()
        write_csv(members_out, folder / "cohort.csv")
        scores_out.to_parquet(folder / "scores.parquet", index=False)
        # Sorted by person id (as text), then as a reader expects; the id order is computed once.
        id_rank = np.zeros(int(scored.scores["person_idx"].to_numpy().max(initial=-1)) + 1, dtype=np.int64)
        id_rank[scored.scores["person_idx"].to_numpy()] = text_rank(scored.scores["person_id"])
        c = scored.contributions
        contrib = c.iloc[sort_order([id_rank[c["person_idx"].to_numpy()], c["axis"].cat.codes.to_numpy(),
                                     -c["points"].to_numpy(), c["indicator"].cat.codes.to_numpy()])]
        contrib = contrib.drop(columns="person_idx").assign(latest=iso_dates(contrib["latest"]))
        write_csv(contrib, folder / "contributions.csv")
        p = scored.points
        evidence = p.iloc[sort_order([id_rank[p["person_idx"].to_numpy()], p["date"].to_numpy().view(np.int64)],
                                     tiebreak=p["event_id"])]
        evidence = evidence.drop(columns="person_idx").assign(date=iso_dates(evidence["date"]))
        evidence.to_parquet(folder / "evidence.parquet", index=False)
        write_csv(extract.rejects, folder / "rejects.csv")
        write_csv(gone, folder / "removed.csv")
        write_csv(_dates_as_text(peer_map.periphery), folder / "periphery.csv")
        write_csv(peer_map.peer_groups, folder / "peer_groups.csv")
        write_csv(_dates_as_text(peer_map.places), folder / "places.csv")
        rules = _rules_text(definitions)
        facts = pack_facts(members=members, removed=gone, manifest=manifest | {"finished_at": _now()}, rules=rules,
                           previous_as_of=prev_run.as_of if prev_run else None, periphery=peer_map.periphery,
                           peer_groups=peer_map.peer_groups, places=peer_map.places,
                           peer_edges=peer_map.edges.rename(columns={"person_a": "source", "person_b": "target"}))
        write_html(facts, folder / "cohort.html")
        write_xlsx(facts, folder / "cohort.xlsx")
        title = f"Fairness audit of the cohort as of {as_of}"
        write_audit(audit, folder / "audit", title=title)
        partner = None
        if key is not None:
            write_audit(partner_audit, folder / "partner" / "audit",
                        title=title + " (partner copy, small cells suppressed)")
            edges = peer_map.edges.rename(columns={"person_a": "source", "person_b": "target"})
            partner = write_partner_pack(folder, members=members, removed=gone, manifest=manifest,
                                         settings=settings.partner, key=key, peer_groups=peer_map.peer_groups,
                                         periphery=peer_map.periphery, places=peer_map.places,
                                         decisions_history=decisions, peer_edges=edges, demo=demo_key)
        return contrib, evidence, partner

    with atomic_folder(out) as folder:
        contrib, evidence, partner = stages.run("outputs", "writing outputs", write_outputs, folder)
        manifest["finished_at"] = _now()
        manifest["stages_seconds"] = dict(stages.seconds)
        write_json(manifest, folder / "run.json")
        stored = _stored_scores(scores_out, members)
        # The packs are logged with the run, as pending; they are confirmed once the folder is
        # published below (a killed run's pending entries are settled by the next refresh).
        police_people = sorted(set(members["person_id"]) | set(gone["person_id"]) | set(peer_map.periphery["person_id"]))
        packs = [{"audience": "police", "files": file_hashes(folder, ["cohort.csv", "cohort.html", "cohort.xlsx"]),
                  "person_ids": police_people, "by": by}]
        if partner is not None:
            packs.append({"audience": "partner", "files": partner["files"], "person_ids": partner["person_ids"],
                          "by": by})
        run_id, replaced = stages.run("history", "storing the run in the history database", store.save_run,
                                      as_of=as_of, manifest=manifest, audit=partner_audit, scores_frame=stored,
                                      contributions_frame=contrib[isin(contrib["person_id"], stored["person_id"])],
                                      evidence_frame=evidence[isin(evidence["person_id"], stored["person_id"])],
                                      removed_frame=gone, disclosures_pending=packs, folder=out)
    store.confirm_disclosures(run_id, out)
    tracked = stages.run("tracking", "logging aggregate figures to MLflow", log_run,
                         run_name=f"refresh {as_of}", params=_tracking_params(manifest),
                         metrics=_tracking_metrics(manifest) | audit_metrics(partner_audit),
                         settings=settings.tracking, root=definitions.base)
    if not tracked["logged"]:
        say(f"MLflow tracking skipped: {tracked['error']}")
    return RefreshResult(as_of=as_of, out=Path(out), manifest=manifest, members=members, removed=gone,
                         extract=extract, scored=scored, run_id=run_id, replaced=replaced, audit=audit,
                         tracking=dict(tracked), peers=peer_map, partner=partner, stages=stages.seconds)


def _with_model(members: pd.DataFrame, extract: Extract, definitions: Definitions,
                as_of: dt.date) -> tuple[pd.DataFrame, str, dict | None]:
    """The champion model's probability and explanation beside (never instead of) the matrix."""
    champion = load_champion(definitions)
    if champion is None:
        return members, (f"model enabled but no version of '{definitions.settings.model.registered_name}' holds the "
                         f"alias champion: run `hkc train`; the list is the matrix's alone"), None
    scored = score_with_model(champion, extract, definitions=definitions, as_of=as_of).set_index("person_id")
    members = members.copy()
    members["model_probability"] = members["person_id"].map(scored["model_probability"]).round(4)
    members["model_explanation"] = members["person_id"].map(scored["model_explanation"])
    group_audit = None
    if champion.group_audit is not None:
        group_audit = {"name": champion.name, "version": champion.version, **champion.group_audit}
    return members, (f"model {champion.name} version {champion.version} (champion, tested on "
                     f"{champion.test_snapshot}) shown beside the matrix; the ranking is the matrix's"), group_audit


def _with_peers_and_decisions(members: pd.DataFrame, peer_map: PeerMap, decisions: pd.DataFrame) -> pd.DataFrame:
    """Each member's peer group and decision history (a declined member stays listed, marked)."""
    members = members.copy()
    groups = peer_map.peer_groups.drop_duplicates("person_id").set_index("person_id")["peer_group"]
    members["peer_group"] = members["person_id"].map(groups).astype(object).fillna("")
    history = decisions.set_index("person_id")
    for col in ("decisions", "latest_decision", "latest_meeting_date", "latest_reason", "declined"):
        members[col] = members["person_id"].map(history[col]) if col in history else None
    members["decisions"] = members["decisions"].fillna(0).astype(int)
    members["declined"] = members["declined"].fillna(False).astype(bool)
    return members[COHORT_COLUMNS]


def _dates_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    return out


def _tracking_params(manifest: dict) -> dict:
    return {k: manifest[k] for k in ("as_of", "config_sha256", "inputs_sha256", "hkc_version", "git_commit",
                                     "previous_as_of")} | {"audit_spec_sha256": manifest["audit"]["spec_sha256"]}


def _tracking_metrics(manifest: dict) -> dict:
    out = {f"rows/{name}/{k}": float(v) for name, c in manifest["counts"].items() for k, v in c.items()}
    return out | {"cohort_size": float(manifest["cohort_size"]), "eligible": float(manifest["eligible"]),
                  "scored": float(manifest["scored"]), "removed": float(manifest["removed"])}


def _stored_scores(scores_out: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """The people kept in history: anyone with a non-zero score, and every cohort member."""
    keep = (scores_out["risk_score"] > 0) | (scores_out["vulnerability_score"] > 0) | scores_out["in_cohort"]
    stored = scores_out.loc[keep, ["person_id", "risk_score", "vulnerability_score", "eligible", "in_cohort",
                                   "reason"]].copy()
    m = members.set_index("person_id")
    for col in ("rank", "rag", "movement", "rationale"):
        stored[col] = stored["person_id"].map(m[col])
    stored["rank"] = stored["rank"].astype("Int64")
    return stored


def _rules_text(definitions: Definitions) -> dict:
    s = definitions.settings
    e = s.eligibility
    cohort = (f"the {s.cohort.size} highest-ranked eligible people" if s.cohort.method == "top_n"
              else f"every eligible person with a risk score of at least {s.cohort.min_score:g}")
    rag = (f"red at {s.rag.red:g}+, amber at {s.rag.amber:g}+, green below" if s.rag.method == "fixed"
           else f"red = top {s.rag.red_share:.0%} of the cohort, amber = next {s.rag.amber_share:.0%}")
    return {"min_age": e.min_age, "max_age": e.max_age, "review_window_days": e.review_window_days,
            "min_intelligence_reports": e.min_intelligence_reports,
            "intelligence_distinct_dates": e.intelligence_distinct_dates, "cohort": cohort, "rag": rag,
            "catalogue_version": definitions.catalogue.version, "definitions": definitions.describe()}

