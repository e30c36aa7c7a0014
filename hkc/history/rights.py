"""One person's rights: a challenge with its recorded outcome, and an event excluded from scoring as wrong.

* **Challenge** — ``hkc person challenge ID --reason --by`` records that the person (or someone for
  them) disputes their listing; the challenge stays *open* until ``hkc person resolve ID --outcome
  upheld|rejected|withdrawn --note --by`` records its outcome.  The next refresh marks an open
  challenge beside the person.
* **Rectification** — ``hkc person rectify ID --event EVENT_ID --reason --by`` excludes an event shown
  to be wrong from scoring in every later refresh (and in its audit and backtest) until the exclusion
  is lifted (``--lift``) once the source record is corrected.  Exclusions are shown in ``hkc explain``
  and in subject access.

Every change is one row with who and when; nothing is deleted, so the record of a challenge or a
correction outlives its outcome (until retention erases it).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from hkc.errors import HistoryError, HkcError
from hkc.history.interventions import known_person_ids
from hkc.history.schema import challenges, exclusions
from hkc.history.store import HistoryStore

__all__ = ["raise_challenge", "resolve_challenge", "challenges_of", "exclude_event", "lift_exclusion",
           "exclusions_of", "active_exclusions", "person_rights", "rights_lines", "OUTCOMES"]

OUTCOMES = ("upheld", "rejected", "withdrawn")
MAX_TEXT = 2000


def _now(when: dt.datetime | None) -> str:
    return (when or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")


def _text(value: str, what: str) -> str:
    value = " ".join(str(value or "").split())
    if not value:
        raise HkcError(f"{what} is required: say it in words")
    if len(value) > MAX_TEXT:
        raise HkcError(f"{what} is longer than {MAX_TEXT} characters; shorten it")
    return value


def _write(store: HistoryStore, statement, what: str) -> int:
    try:
        with store.engine.begin() as conn:
            result = conn.execute(statement)
            return int(result.inserted_primary_key[0]) if result.is_insert else int(result.rowcount)
    except SQLAlchemyError as exc:
        raise HistoryError(f"history database {store.url}: could not record the {what} "
                           f"({str(exc).splitlines()[0]}); nothing was changed") from None


def _known(store: HistoryStore, person_id: str) -> None:
    if not known_person_ids(store, [person_id]):
        raise HkcError(f"person {person_id!r} is not in any stored run of {store.url}; check the id")


def raise_challenge(store: HistoryStore, person_id: str, *, reason: str, by: str,
                    when: dt.datetime | None = None) -> int:
    """Record a challenge (open until resolved); returns its id.  A second open challenge is refused."""
    _known(store, person_id)
    if len(open_challenges := challenges_of(store, person_id).query("outcome.isna()")):
        raise HkcError(f"person {person_id!r} already has an open challenge (raised "
                       f"{open_challenges.iloc[0]['raised_at'][:10]}); record its outcome with `hkc person resolve`")
    return _write(store, challenges.insert().values(
        person_id=str(person_id), raised_at=_now(when), raised_by=_text(by, "--by"),
        reason=_text(reason, "--reason")), "challenge")


def resolve_challenge(store: HistoryStore, person_id: str, *, outcome: str, note: str, by: str,
                      when: dt.datetime | None = None) -> int:
    """Record the outcome of the person's open challenge; returns the challenge's id."""
    if outcome not in OUTCOMES:
        raise HkcError(f"--outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    open_ones = challenges_of(store, person_id).query("outcome.isna()")
    if not len(open_ones):
        raise HkcError(f"person {person_id!r} has no open challenge to resolve")
    challenge_id = int(open_ones.iloc[-1]["challenge_id"])
    _write(store, challenges.update().where(challenges.c.challenge_id == challenge_id).values(
        outcome=outcome, outcome_at=_now(when), outcome_by=_text(by, "--by"), outcome_note=_text(note, "--note")),
        "challenge's outcome")
    return challenge_id


def challenges_of(store: HistoryStore, person_id: str | None = None) -> pd.DataFrame:
    """Challenges, oldest first (optionally one person's)."""
    query = sa.select(challenges).order_by(challenges.c.raised_at, challenges.c.challenge_id)
    if person_id is not None:
        query = query.where(challenges.c.person_id == str(person_id))
    return store.frame(query)


def _event_held(store: HistoryStore, person_id: str, event_id: str) -> bool:
    """Whether the event is in the person's stored evidence of any run."""
    held = store.person_history(str(person_id))["evidence"]
    return bool(len(held) and (held["event_id"].astype(str) == str(event_id)).any())


def exclude_event(store: HistoryStore, person_id: str, *, event_id: str, reason: str, by: str,
                  when: dt.datetime | None = None) -> int:
    """Exclude an event of the person's stored evidence from scoring from the next refresh on; returns its id."""
    _known(store, person_id)
    if not _event_held(store, person_id, event_id):
        raise HkcError(f"event {event_id!r} is not in the stored evidence of person {person_id!r}; "
                       f"`hkc explain {person_id} --purpose ...` lists the events behind their score")
    held = exclusions_of(store, person_id)
    if len(held.query("lifted_at.isna() and event_id == @event_id")):
        raise HkcError(f"event {event_id!r} is already excluded for person {person_id!r}")
    return _write(store, exclusions.insert().values(
        person_id=str(person_id), event_id=str(event_id), excluded_at=_now(when), excluded_by=_text(by, "--by"),
        reason=_text(reason, "--reason")), "exclusion")


def lift_exclusion(store: HistoryStore, person_id: str, *, event_id: str, reason: str, by: str,
                   when: dt.datetime | None = None) -> int:
    """Lift the exclusion of an event (its source record has been corrected); returns the rows changed."""
    changed = _write(store, exclusions.update().where(
        (exclusions.c.person_id == str(person_id)) & (exclusions.c.event_id == str(event_id))
        & exclusions.c.lifted_at.is_(None)).values(
        lifted_at=_now(when), lifted_by=_text(by, "--by"), lifted_reason=_text(reason, "--reason")), "lift")
    if not changed:
        raise HkcError(f"event {event_id!r} is not excluded for person {person_id!r}")
    return changed


def exclusions_of(store: HistoryStore, person_id: str | None = None) -> pd.DataFrame:
    """Exclusions, oldest first (optionally one person's), lifted ones included."""
    query = sa.select(exclusions).order_by(exclusions.c.excluded_at, exclusions.c.exclusion_id)
    if person_id is not None:
        query = query.where(exclusions.c.person_id == str(person_id))
    return store.frame(query)


def active_exclusions(store: HistoryStore) -> pd.DataFrame:
    """The exclusions a refresh applies: ``person_id, event_id, excluded_at, reason`` of those not lifted."""
    return store.frame(sa.select(exclusions.c.person_id, exclusions.c.event_id, exclusions.c.excluded_at,
                                 exclusions.c.reason).where(exclusions.c.lifted_at.is_(None)))


def person_rights(store: HistoryStore, person_id: str) -> dict:
    """The person's challenges and exclusions as plain data (for explain and subject access)."""
    def records(frame: pd.DataFrame, drop: tuple[str, ...]) -> list[dict]:
        frame = frame.drop(columns=[c for c in drop if c in frame])
        return frame.astype(object).where(frame.notna(), None).to_dict("records")

    return {"challenges": records(challenges_of(store, person_id), ("person_id",)),
            "exclusions": records(exclusions_of(store, person_id), ("person_id",))}


def rights_lines(rights: dict) -> list[str]:
    """Open challenges and excluded events under an explanation (``hkc explain``)."""
    lines = []
    for c in rights.get("challenges", []):
        state = "open" if not c.get("outcome") else f"{c['outcome']} on {str(c['outcome_at'])[:10]}"
        lines.append(f"challenge raised {str(c['raised_at'])[:10]} by {c['raised_by']}: {c['reason']} ({state})")
    for e in rights.get("exclusions", []):
        state = "excluded from scoring" if not e.get("lifted_at") else f"counts again since {str(e['lifted_at'])[:10]}"
        lines.append(f"event {e['event_id']} shown to be wrong ({e['reason']}; {e['excluded_by']}, "
                     f"{str(e['excluded_at'])[:10]}): {state}")
    return ([""] + lines) if lines else []
