"""The quarterly refresh: validate → features → score → cohort → peers → audit → outputs → history.

>>> result = run_refresh("extract/", as_of=date(2026, 9, 30), out=Path("out"),   # doctest: +SKIP
...                      definitions=load_definitions())

The output folder is checked first (hkc never replaces a folder it did not make, nor the extract's or
the database's), then written atomically (see :func:`hkc.outputs.atomic_folder`), and the run is
stored in the history database in one transaction, so a failed run changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from hkc import __version__
from hkc.audit import audit_metrics, audit_refresh, flag_summary, suppress_small_cells
from hkc.definitions import AuditSpec, Definitions, refresh_audit_spec
from hkc.errors import HkcError, OutputError
from hkc.extract import (
    Extract,
    check_capacity,
    coverage_problems,
    load_extract,
    probe_extract,
    refuse_or_accept,
    shrink_problems,
)
from hkc.frames import isin
from hkc.history import (
    HistoryStore,
    Identities,
    active_exclusions,
    challenges_of,
    database_file,
    decisions_for_runs,
    identities,
    latest_evaluation,
    member_rows,
    open_cases,
    open_store,
    recent_listings,
    recent_referrals,
    recent_runs,
    record_extract_aliases,
    removed_on_review,
    run_evidence,
    running_interventions,
    vanished_members,
)
from hkc.manifest import AuditSummary, RunManifest, git_commit, now
from hkc.matrix import (
    REKEY_COLUMNS,
    PeerMap,
    ScoreResult,
    map_peers,
    probable_rekeys,
    rekey_lines,
    removal_causes,
    removed_people,
    score_people,
    select_cohort,
)
from hkc.model import chance_line, load_champion, score_with_model
from hkc.outputs import SwapError, atomic_folder, check_output_folder, output_lock, private_files, write_json
from hkc.partnership import PseudonymKeyError, decision_history, partner_key, with_identities
from hkc.refresh.frames import (
    apply_reviews,
    cohort_frame,
    open_cases_frame,
    scores_frame,
    stored_scores,
    with_peers_and_decisions,
)
from hkc.refresh.publish import Listing, packs_to_log, write_outputs
from hkc.tracking import log_run

__all__ = ["RefreshResult", "run_refresh", "config_fingerprint", "PartnerPack"]

PartnerPack = Literal["auto", "yes", "no"]
AS_OF_AFTER_EXTRACT = ("--as-of {as_of} is after --extract-date {extract_date}: an extract cannot show what happened "
                       "after it was taken; score as of {extract_date} or earlier")
AS_OF_IN_FUTURE = ("--as-of {as_of} is after today ({today}): an extract cannot hold what has not happened yet; "
                   "choose a date up to today, or give --extract-date if the extract was taken later")
AS_OF_BEFORE_EVENTS = ("--as-of {as_of} is before every event in the extract (the first is on {first}): nothing "
                       "could be scored; choose a date from {first} on")
SCRUBBED = ("partner pack: {scrubbed} person id(s) found in free text (areas, places, reasons) were replaced by "
            "pseudonyms and {withheld} withheld as people outside the pack")
NOT_PUBLISHED = ("{problem}; the run was stored in the history as run {run_id} (as of {as_of}) but its outputs were "
                 "not published, so none of its packs is logged as disclosed")
Say = Callable[[str], None]


@dataclass
class RefreshResult:
    as_of: dt.date
    out: Path
    manifest: RunManifest
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


class _Stages:
    """Times each stage and reports progress."""

    def __init__(self, progress: Say):
        self.progress = progress
        self.seconds: dict[str, float] = {}

    def run(self, name: str, description: str, fn, *args, **kwargs):
        self.progress(f"{description} …")
        start = time.perf_counter()
        value = fn(*args, **kwargs)
        self.seconds[name] = round(time.perf_counter() - start, 3)
        self.progress(f"{description}: done in {self.seconds[name]:.1f}s")
        return value


def run_refresh(data_dir: str | Path, *, as_of: dt.date, out: Path, definitions: Definitions,
                db_url: str | None = None, extract_date: dt.date | None = None,
                progress: Say | None = None, partner_pack: PartnerPack = "auto",
                by: str | None = None, demo_key: bool = False, accept: frozenset[str] = frozenset()) -> RefreshResult:
    """Run the whole refresh for ``as_of`` and write ``out``; see the module docstring.

    ``out`` must be new, empty or an earlier hkc output, and neither the current folder, nor the
    extract's (or inside or around it), nor the database's: anything else is refused before any
    work (:func:`hkc.outputs.check_output_folder`), so a refused run stores nothing.
    Holds a lock on ``out`` for the whole run: a second refresh to the same folder exits at once.
    ``partner_pack``: "auto" writes the pseudonymised partner pack when the key is set (and says
    so when it is not), "yes" requires it, "no" skips it.  ``by`` names who ran the refresh in the
    disclosure log (default: the operating-system user).  ``demo_key`` uses the labelled demo key.
    ``accept`` names the extract checks the analyst accepts (``short_history``, ``stale``, ``shrunk``:
    :mod:`hkc.extract.coverage`); any other that fires refuses the run before any work is stored.
    """
    if extract_date is not None and as_of > extract_date:
        raise HkcError(AS_OF_AFTER_EXTRACT.format(as_of=as_of, extract_date=extract_date))
    if extract_date is None and as_of > dt.date.today():
        raise HkcError(AS_OF_IN_FUTURE.format(as_of=as_of, today=dt.date.today()))
    url = db_url or definitions.database_url()
    check_output_folder(out, inputs=[Path(data_dir)], database=database_file(url))
    # Children's data: everything the run creates is private to this account unless the settings say otherwise.
    with private_files(group_readable=definitions.settings.outputs.group_readable) as modes, output_lock(out):
        return _refresh(data_dir, as_of=as_of, out=out, definitions=definitions, db_url=url,
                        extract_date=extract_date, say=progress or (lambda _m: None), partner_pack=partner_pack,
                        by=by or _user(), demo_key=demo_key, modes=modes, accept=frozenset(accept))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "unknown"


def _partner_key(definitions: Definitions, mode: PartnerPack, demo: bool, say: Say) -> bytes | None:
    if mode == "no":
        return None
    try:
        return partner_key(definitions.settings.partner, demo=demo)
    except PseudonymKeyError as exc:
        if mode == "yes":
            raise
        say(exc.message)
        return None


def _open_history(url: str, out: Path, say: Say) -> HistoryStore:
    store = open_store(url)
    confirmed, dropped = store.settle_disclosures(out)  # what a killed refresh to this folder left pending
    if confirmed or dropped:
        say(f"an interrupted refresh to {out} had logged {confirmed + dropped} pack(s): {confirmed} had been "
            f"published (kept in the disclosure log), {dropped} never were (removed from it)")
    return store


def _list(extract: Extract, store: HistoryStore, definitions: Definitions, as_of: dt.date,
          stages: _Stages, ids: Identities) -> Listing:
    """Score, rank, map peers, attach decisions (and the champion model's view when enabled).

    The previous cohort is read under each id's latest id (``ids``), so a re-keyed member is the same
    person in both lists (movement, removals and their causes); an earlier member who vanished while a
    new id with their birth date, sex and events appeared is a probable re-key, not a removal."""
    settings = definitions.settings
    scored = stages.run("score", f"scoring {len(extract.people):,} people as of {as_of}", score_people,
                        extract.people, extract.events, catalogue=definitions.catalogue,
                        eligibility=settings.eligibility, as_of=as_of)

    # a meeting's "remove" takes a person off the lists until a risk event dated after that meeting arrives
    reviewed, kept_off, came_back = apply_reviews(scored.scores, scored.points, removed_on_review(store, as_of, ids))
    if kept_off or came_back:
        scored = dataclasses.replace(scored, scores=reviewed)
        stages.progress(f"partnership reviews: {kept_off} person(s) kept off the list by a remove decision; "
                        f"{came_back} back in the ranking with a risk event dated after their review")

    def build_cohort():
        chosen = select_cohort(scored.scores, cohort=settings.cohort, rag=settings.rag)
        previous = store.previous_run(as_of)
        last = ids.follow(store.cohort(previous.run_id), unique=True).drop(columns="stored_id") if previous else None
        members = cohort_frame(scored, chosen.members, last, definitions)
        gone = removed_people(chosen.members, last, scored.scores, chosen.ranked, cohort=settings.cohort)
        rekeys = pd.DataFrame(columns=REKEY_COLUMNS)
        if previous is not None:
            vanished, earlier = vanished_members(store, previous, ids, extract.people["person_id"])
            rekeys = probable_rekeys(vanished, extract.people, extract.events, earlier_ids=earlier)
            gone = gone[~gone["person_id"].isin(set(rekeys["old_id"]))].reset_index(drop=True)  # not removed
            stored = ids.ids_of(gone["person_id"])  # every id they had: the history holds their past under those
            # each removal with its cause and text, as `hkc movement` gives them
            gone = removal_causes(gone, previous=last,
                                  previous_evidence=_followed(ids, run_evidence(store, previous.run_id, stored)),
                                  scored=scored, members=chosen.members, ranked=chosen.ranked, cohort=settings.cohort,
                                  previous_as_of=previous.as_of, as_of=as_of, catalogue=definitions.catalogue,
                                  non_qualifying_outcomes=settings.eligibility.non_qualifying_outcomes,
                                  decisions=_followed(ids, store.decisions(list(stored))) if len(gone) else None)
        return chosen, previous, members, gone, rekeys

    chosen, previous, members, gone, rekeys = stages.run("cohort", "ranking the cohort", build_cohort)
    # an adopted person's case stays open until a meeting closes it: not listed now, they are not "removed"
    cases = open_cases_frame(open_cases(store, as_of, ids), members, scored.scores, chosen.ranked,
                             cohort=settings.cohort, as_of=as_of)
    gone = gone[~gone["person_id"].astype(str).isin(set(cases["person_id"]))].reset_index(drop=True)
    if previous is not None:
        for line in rekey_lines(rekeys, earlier=previous.as_of):
            stages.progress(line)
    peer_map = stages.run("peers", "mapping peers, the periphery and places", map_peers, extract, scored,
                          members["person_id"].tolist(), settings=settings.peers, places=settings.places,
                          catalogue=definitions.catalogue, as_of=as_of)
    decisions = decision_history(store, members["person_id"].tolist() + peer_map.periphery["person_id"].tolist())
    # the interventions running now, shown beside each person's decisions in both packs
    decisions = decisions.merge(running_interventions(store, decisions["person_id"], as_of, ids), on="person_id",
                                how="left")
    # partners' referrals of the last year, shown in both packs: a referral is not an event, it adds no points
    referred = recent_referrals(store, as_of, ids, members["person_id"])
    run = Listing(extract=extract, scored=scored, chosen=chosen, previous=previous, peer_map=peer_map,
                  members=with_peers_and_decisions(members, peer_map, decisions, challenged=_challenged(store, ids)),
                  gone=gone, decisions=decisions, rekeys=rekeys, open_cases=cases, referrals=referred)
    if settings.model.enabled:
        run.members, run.model_note, run.model_audit = stages.run(
            "model", "adding the champion model's probabilities", _with_model, run.members, extract, definitions, as_of)
        stages.progress(run.model_note)
    return run


def _coverage(data_dir: str | Path, extract: Extract, store: HistoryStore, definitions: Definitions,
              as_of: dt.date, accept: frozenset[str], say: Say) -> dict:
    """Whether the extract can support a score as of ``as_of`` (:mod:`hkc.extract.coverage`): refuse in one
    line unless accepted; returns what the run records (the checks accepted, and any not judged)."""
    data = definitions.settings.data
    problems, notes = coverage_problems(extract.events, as_of=as_of, catalogue=definitions.catalogue, settings=data)
    previous = store.previous_run(as_of)
    if previous is not None:
        problems += shrink_problems(extract.counts, store.manifest(previous.run_id).get("counts"),
                                    before_as_of=previous.as_of, settings=data)
    accepted = refuse_or_accept(problems, accept, file=str(data_dir))
    for note in notes:
        say(note)
    for a in accepted:
        say(f"accepted with {a['flag']}: {a['message']}")
    return {"accepted": accepted, "notes": notes}


def _challenged(store: HistoryStore, ids: Identities) -> set[str]:
    """Everyone with an open challenge to their listing (under their latest id)."""
    held = challenges_of(store)
    return {ids.latest_id(p) for p in held.loc[held["outcome"].isna(), "person_id"].astype(str)} if len(held) else set()


def _followed(ids: Identities, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows about people with each ``person_id`` replaced by its latest id."""
    return ids.follow(frame).drop(columns="stored_id")


def _record_aliases(data_dir: str | Path, extract: Extract, store: HistoryStore, as_of: dt.date, by: str,
                    say: Say) -> Identities:
    """Store the links the extract's aliases file carries (:func:`hkc.history.record_extract_aliases`) and
    return every link, resolved.  Called once the extract is accepted, before anything is scored."""
    report = record_extract_aliases(store, extract.aliases, source=f"extract {Path(data_dir).name} as of {as_of}",
                                    by=by)
    for line in report.lines():
        say(line)
    return identities(store)


def _without_excluded(extract: Extract, excluded: pd.DataFrame, say: Say) -> Extract:
    """The extract without the events excluded as wrong (``hkc person rectify``): they count nowhere in this
    run — not in the scores, the audit or the backtest — until the exclusion is lifted."""
    if not len(excluded) or not len(extract.events):
        return extract
    events = extract.events
    key = events["person_id"].astype(str) + "\x1f" + events["event_id"].astype(str)
    wrong = set(excluded["person_id"].astype(str) + "\x1f" + excluded["event_id"].astype(str))
    drop = key.isin(wrong).to_numpy()
    if drop.any():
        say(f"{int(drop.sum())} event(s) excluded from scoring as shown to be wrong (hkc person rectify)")
    return dataclasses.replace(extract, events=events[~drop].reset_index(drop=True), excluded_events=int(drop.sum()))


def _audit(run: Listing, definitions: Definitions, spec: AuditSpec, as_of: dt.date,
           stages: _Stages, store: HistoryStore) -> tuple[dict, dict]:
    """The refresh's fairness audit (with what was decided, from the history), and its partner copy with
    small cells suppressed."""
    earlier = recent_runs(store, as_of, quarters=4)
    decided = {"periphery_ids": run.peer_map.periphery["person_id"],
               "listings": recent_listings(store, as_of, quarters=4),
               "decisions": decisions_for_runs(store, earlier), "earlier_runs": [r.as_of for r in earlier]}
    chance = stages.run("chance", "backtesting the list against chance on the extract's own history", chance_line,
                        run.extract, definitions=definitions, as_of=as_of)
    audit = stages.run("audit", f"auditing fairness ({spec.bootstrap.resamples:,} bootstrap resamples)",
                       audit_refresh, extract=run.extract, scored=run.scored, cohort_ids=run.members["person_id"],
                       definitions=definitions, spec=spec, as_of=as_of, chance=chance, decided=decided)
    if run.model_audit is not None:  # the champion's calibration and error rates by group on its test snapshot
        audit["model"] = run.model_audit
    return audit, suppress_small_cells(audit, threshold=spec.disclosure.small_cell)


def _manifest(data_dir: str | Path, run: Listing, *, audit: dict, partner_audit: dict, spec: AuditSpec, definitions: Definitions,
              store: HistoryStore, as_of: dt.date, started: str) -> RunManifest:
    extract, settings, catalogue = run.extract, definitions.settings, definitions.catalogue
    inputs_sha = hashlib.sha256("".join(f"{k}:{v};" for k, v in sorted(extract.sha256.items())).encode()).hexdigest()
    return RunManifest(
        as_of=as_of.isoformat(), extract_date=extract.extract_date.isoformat() if extract.extract_date else None,
        data_dir=str(Path(data_dir).resolve()),
        inputs={name: {"file": path.name, "sha256": extract.sha256[name]} for name, path in extract.files.items()},
        inputs_sha256=inputs_sha, counts=extract.counts, extra_columns=extract.extra_columns,
        scored=int(len(run.scored.scores)), eligible=int(len(run.chosen.ranked)), cohort_size=int(len(run.members)),
        removed=int(len(run.gone)), model=run.model_note, periphery=int(len(run.peer_map.periphery)),
        peer_groups=int(run.peer_map.peer_groups["peer_group"].nunique()), places=int(len(run.peer_map.places)),
        previous_as_of=run.previous.as_of.isoformat() if run.previous else None,
        config_sha256=config_fingerprint(definitions),
        config_files={"settings": {"path": str(settings.path), "sha256": settings.sha256},
                      "catalogue": {"path": str(catalogue.path), "sha256": catalogue.sha256,
                                    "version": catalogue.version}},
        definitions=definitions.describe(),
        audit=AuditSummary(spec_sha256=spec.digest(), flags=len(audit["flags"]),
                           findings=len(audit.get("findings", [])),
                           retrospective=bool(audit.get("retrospective", {}).get("available")),
                           summary=flag_summary(partner_audit["flags"]),
                           flagged=tuple(f["text"] for f in partner_audit["flags"])),
        hkc_version=__version__, git_commit=git_commit(), python=platform.python_version(), database=store.url,
        started_at=started, chance=audit.get("chance"), excluded_events=extract.excluded_events,
        probable_rekeys=None if run.previous is None else
        run.rekeys[["old_id", "new_id", "evidence"]].to_dict("records"))


def _refresh(data_dir: str | Path, *, as_of: dt.date, out: Path, definitions: Definitions, db_url: str,
             extract_date: dt.date | None, say: Say, partner_pack: PartnerPack, by: str,
             demo_key: bool, modes: dict[str, str], accept: frozenset[str]) -> RefreshResult:
    started, stages = now(), _Stages(say)
    key = _partner_key(definitions, partner_pack, demo_key, say)  # before any work: a missing key fails fast
    day = extract_date or max(as_of, dt.date.today())
    probe_extract(data_dir, catalogue=definitions.catalogue, extract_date=day)  # garbage is refused as garbage
    say(check_capacity(data_dir).describe())  # an extract too big for this machine stops here, not in an OOM kill
    store = _open_history(db_url, out, say)
    extract = stages.run("validate", "loading and validating the extract", load_extract, data_dir,
                         catalogue=definitions.catalogue, extract_date=day, progress=say)
    # an exclusion follows the person: stored under an id the extract (or an earlier one) re-keyed
    extract = _without_excluded(extract, _followed(identities(store, extra=extract.aliases),
                                                   active_exclusions(store)), say)
    first = extract.events["date"].min() if len(extract.events) else None
    if first is not None and pd.Timestamp(as_of) < first:
        raise HkcError(AS_OF_BEFORE_EVENTS.format(as_of=as_of, first=first.date()))
    checks = _coverage(data_dir, extract, store, definitions, as_of, accept, say)  # before any output or storage
    ids = _record_aliases(data_dir, extract, store, as_of, by, say)  # once the extract is accepted
    key = with_identities(key, ids.canonical) if key is not None else None  # a re-keyed person keeps their pseudonym
    run = _list(extract, store, definitions, as_of, stages, ids)
    spec = refresh_audit_spec(definitions)
    audit, partner_audit = _audit(run, definitions, spec, as_of, stages, store)
    scores = scores_frame(run.scored, run.chosen.ranked, run.chosen.members, cohort=definitions.settings.cohort)
    manifest = _manifest(data_dir, run, audit=audit, partner_audit=partner_audit, spec=spec, definitions=definitions, store=store, as_of=as_of,
                         started=started)
    manifest.permissions = modes
    manifest.checks = checks
    manifest.evaluation = latest_evaluation(store)  # what the pack says about whether it works
    try:
        run_id, replaced, manifest, written = _publish(out, run, store, manifest=manifest, scores=scores, audit=audit,
                                                       partner_audit=partner_audit, definitions=definitions,
                                                       as_of=as_of, key=key, demo_key=demo_key, by=by, stages=stages,
                                                       identities=member_rows(as_of, run.members["person_id"],
                                                                              extract.people, extract.events))
    except SwapError as exc:  # stored, then the folder could not be swapped in: its packs never went out
        store.settle_disclosures(out)
        raise OutputError(NOT_PUBLISHED.format(problem=exc.message, run_id=exc.run_id, as_of=as_of)) from None
    store.confirm_disclosures(run_id, out)
    if written.partner is not None:
        say(SCRUBBED.format(scrubbed=written.partner.get("scrubbed", 0), withheld=written.partner.get("withheld", 0)))
    tracked = _track(manifest, partner_audit, definitions, stages, say)
    return RefreshResult(as_of=as_of, out=Path(out), manifest=manifest, members=run.members, removed=run.gone,
                         extract=extract, scored=run.scored, run_id=run_id, replaced=replaced, audit=audit,
                         tracking=tracked, peers=run.peer_map, partner=written.partner, stages=stages.seconds)


def _publish(out: Path, run: Listing, store: HistoryStore, *, manifest: RunManifest, scores: pd.DataFrame,
             audit: dict, partner_audit: dict, definitions: Definitions, as_of: dt.date, key: bytes | None,
             demo_key: bool, by: str, stages: _Stages, identities: list[dict]):
    """Write the outputs, store the run with its packs pending and its members' identities (for the next
    refresh's re-key check), then swap the folder in."""
    run_id = None
    try:
        with atomic_folder(out) as folder:
            written = stages.run("outputs", "writing outputs", write_outputs, folder, run, manifest=manifest,
                                 scores=scores, audit=audit, partner_audit=partner_audit, definitions=definitions,
                                 as_of=as_of, key=key, demo_key=demo_key)
            manifest = manifest.finished(stages.seconds)
            write_json(manifest.as_dict(), folder / "run.json")
            stored = stored_scores(scores, run.members)
            c, e = written.contributions, written.evidence
            # The packs are logged with the run, as pending; they are confirmed once the folder is
            # published below (a killed run's pending entries are settled by the next refresh).
            run_id, replaced = stages.run(
                "history", "storing the run in the history database", store.save_run, as_of=as_of,
                manifest=manifest.as_dict(), audit=partner_audit, scores_frame=stored,
                contributions_frame=c[isin(c["person_id"], stored["person_id"])],
                evidence_frame=e[isin(e["person_id"], stored["person_id"])], removed_frame=run.gone, folder=out,
                disclosures_pending=packs_to_log(folder, run, written.partner, by=by), identities=identities,
                periphery_frame=run.peer_map.periphery)
    except SwapError as exc:
        exc.run_id = run_id
        raise
    return run_id, replaced, manifest, written


def _track(manifest: RunManifest, partner_audit: dict, definitions: Definitions, stages: _Stages, say: Say) -> dict:
    """Aggregate figures to MLflow (never a person-level value); a failure is said, not raised."""
    tracked = stages.run("tracking", "logging aggregate figures to MLflow", log_run,
                         run_name=f"refresh {manifest.as_of}", params=manifest.tracking_params(),
                         metrics=manifest.tracking_metrics() | audit_metrics(partner_audit),
                         settings=definitions.settings.tracking, root=definitions.base)
    if not tracked["logged"]:
        say(f"MLflow tracking skipped: {tracked['error']}")
    return dict(tracked)


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
