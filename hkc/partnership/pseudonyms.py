"""Keyed pseudonyms for partner outputs: the person id never leaves the police view.

A pseudonym is HMAC-SHA256 of the source ``person_id`` under a secret key, shown as ``HKC-`` and
16 hex digits.  It is stable (the same person has the same pseudonym every quarter, so a meeting can
follow a child between packs) and cannot be reversed or recomputed without the key.  The key comes
from the environment (``HKC_PSEUDONYM_KEY`` by default, ``[partner] key_variable``); the same key is
needed to import the meeting's decisions back.  A key needs at least 32 characters — characters,
not bytes — and 16 different ones (:func:`check_key`).

:class:`IdScrubber` is the other half of keeping the id in the police view: it finds person ids
in free text bound for partners and puts the pseudonym, or ``[id withheld]``, in their place.

>>> pseudonym("P000123", b"an example key, not a secret: 0123456789")
'HKC-bd6911a980c7e5c1'

``hkc demo`` uses :data:`DEMO_KEY`, which is published here and therefore protects nothing: its
pseudonyms start ``DEMO-`` and every pack written with it says :data:`DEMO_LABEL`.

A person re-keyed in the source keeps their pseudonym: it is made from their *canonical* id, the
id the history first knew them by (:meth:`hkc.history.Identities.canonical_id`), not from the id
they have now.  Pass the ``{id: canonical id}`` map as ``canonical``, or attach it to the key once
(:func:`with_identities`) so that every pseudonym made with that key — in the pack, its drawings,
the scrubbed text — follows it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping

import pandas as pd

from hkc.definitions import PartnerSettings
from hkc.errors import HkcError

__all__ = ["pseudonym", "pseudonymise", "partner_key", "check_key", "key_fingerprint", "is_demo_key", "keyed_digest",
           "key_characters", "PseudonymKeyError", "DEMO_KEY", "DEMO_LABEL", "MIN_KEY_LENGTH",
           "MIN_DISTINCT_CHARACTERS", "PREFIX", "DEMO_PREFIX", "KEY_MISSING", "KEY_TOO_SHORT", "KEY_TOO_SIMPLE",
           "IdScrubber", "WITHHELD", "IdentityKey", "with_identities"]

PREFIX = "HKC-"
DEMO_PREFIX = "DEMO-"
HEX_DIGITS = 16  # 64 bits: no collision to expect below billions of people
MIN_KEY_LENGTH = 32  # characters, not bytes: 11 x "\u20ac" is 33 bytes of UTF-8 and 11 characters
MIN_DISTINCT_CHARACTERS = 16  # "k" * 32 is 32 characters and one guess
DEMO_KEY = b"hkc-demo-key: published in the source code, NOT FOR REAL DATA"
DEMO_LABEL = "DEMO KEY \u2014 not for real data"
_DOMAIN = b"hkc-pseudonym-v1\x00"
WITHHELD = "[id withheld]"  # stands for the id of someone a partner file does not show
_WORD = re.compile(r"\w+")
_DIGITS = re.compile(r"\d+")

KEY_MISSING = ("partner outputs not written: set {var} to a secret of at least {n} characters "
               "(e.g. export {var}=\"$(python -c 'import secrets; print(secrets.token_urlsafe(48))')\"), "
               "keep it out of the repository, and use the same key when importing decisions")
KEY_TOO_SHORT = ("partner outputs not written: {var} holds {length} characters; set it to a secret of at least "
                 "{n} characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')")
KEY_TOO_SIMPLE = ("partner outputs not written: {var} uses only {distinct} different characters; set it to a random "
                  "secret with at least {n} different characters "
                  "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')")
KEY_IS_DEMO = ("partner outputs not written: {var} holds the published demo key; set it to a secret of your own "
               "of at least {n} characters")


class PseudonymKeyError(HkcError):
    """The pseudonymisation key is absent, too short, or the published demo key."""


def is_demo_key(key: bytes) -> bool:
    return hmac.compare_digest(key, DEMO_KEY)


def key_characters(key: bytes | str) -> str:
    """The key as the characters a person typed: UTF-8 decoded; a byte that is not UTF-8 is one character."""
    return key if isinstance(key, str) else key.decode("utf-8", errors="surrogateescape")


def check_key(key: bytes | str | None, *, variable: str = "HKC_PSEUDONYM_KEY") -> bytes:
    """``key`` as bytes, or :class:`PseudonymKeyError` saying how to set a usable one.

    A usable key has at least :data:`MIN_KEY_LENGTH` characters (counted as characters, not as
    UTF-8 bytes) and at least :data:`MIN_DISTINCT_CHARACTERS` different ones.
    """
    if key is None or len(key) == 0:
        raise PseudonymKeyError(KEY_MISSING.format(var=variable, n=MIN_KEY_LENGTH))
    text = key_characters(key)
    key = key.encode("utf-8", errors="surrogateescape") if isinstance(key, str) else key
    if is_demo_key(key):
        return key
    if len(text) < MIN_KEY_LENGTH:
        raise PseudonymKeyError(KEY_TOO_SHORT.format(var=variable, length=len(text), n=MIN_KEY_LENGTH))
    if len(set(text)) < MIN_DISTINCT_CHARACTERS:
        raise PseudonymKeyError(KEY_TOO_SIMPLE.format(var=variable, distinct=len(set(text)),
                                                      n=MIN_DISTINCT_CHARACTERS))
    return key


def partner_key(settings: PartnerSettings, *, demo: bool = False, environ: Mapping[str, str] | None = None) -> bytes:
    """The pseudonymisation key from the environment variable named in ``[partner] key_variable``.

    ``demo=True`` returns :data:`DEMO_KEY` (for ``hkc demo`` only).  An absent, short or demo
    value in the environment raises :class:`PseudonymKeyError`.
    """
    if demo:
        return DEMO_KEY
    env = os.environ if environ is None else environ
    raw = env.get(settings.key_variable, "")
    key = check_key(raw.strip(), variable=settings.key_variable)
    if is_demo_key(key):
        raise PseudonymKeyError(KEY_IS_DEMO.format(var=settings.key_variable, n=MIN_KEY_LENGTH))
    return key


class IdentityKey(bytes):
    """A pseudonym key that carries the ``{id: canonical id}`` map of re-keyed people (:func:`with_identities`).

    It is the same key (the same bytes, fingerprint and seals); only the ids pseudonyms are made from differ."""

    canonical: Mapping[str, str]


def with_identities(key: bytes, canonical: Mapping[str, str]) -> bytes:
    """``key`` carrying ``canonical`` (``{id: the id its pseudonym is made from}``): every :func:`pseudonym`
    made with it follows the person, so code that only passes the key on needs no change."""
    out = IdentityKey(key)
    out.canonical = {str(k): str(v) for k, v in canonical.items()}
    return out


def _source(person_id: object, key: bytes, canonical: Mapping[str, str] | None) -> str:
    pid = str(person_id)
    if canonical is None:
        canonical = getattr(key, "canonical", None) or {}
    return canonical.get(pid, pid)


def pseudonym(person_id: object, key: bytes, *, canonical: Mapping[str, str] | None = None) -> str:
    """The stable keyed pseudonym of one ``person_id`` (``HKC-`` + 16 hex digits), made from its canonical id
    (``canonical``, else the map the key carries, else the id itself)."""
    source = _source(person_id, key, canonical)
    digest = hmac.new(key, _DOMAIN + source.encode("utf-8"), hashlib.sha256).hexdigest()
    return (DEMO_PREFIX if is_demo_key(key) else PREFIX) + digest[:HEX_DIGITS]


def pseudonymise(person_ids: Iterable[object], key: bytes, *,
                 canonical: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{person_id: pseudonym}`` for every distinct id given (two ids of one re-keyed person share one)."""
    return {str(p): pseudonym(p, key, canonical=canonical) for p in dict.fromkeys(str(p) for p in person_ids)}


def keyed_digest(key: bytes, *parts: object, digits: int = 16) -> str:
    """A short HMAC of ``parts`` (used to seal a pack's protected cells)."""
    message = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return hmac.new(key, b"hkc-seal-v1\x00" + message, hashlib.sha256).hexdigest()[:digits]


def key_fingerprint(key: bytes) -> str:
    """Identifies the key without revealing it: a pack records it, the import checks it."""
    return keyed_digest(key, "key-fingerprint")


class IdScrubber:
    """Finds person ids in free text, as whole tokens, and replaces them before text goes to partners.

    ``person_ids`` is everyone the text could name (every person in the extract); ``pseudonyms``
    maps the ids of the people a file shows to their pseudonyms.  A shown person's id becomes the
    pseudonym, anyone else's :data:`WITHHELD`.  Ids match as written (case and all) and only as
    whole tokens: a token is a run of word characters and of the other characters ids contain
    (``-`` in ``NOMINAL-10001``), and inside a run the longest id that starts and ends on word
    boundaries wins, so ``home-of-P000998`` loses ``P000998`` but ``P0009981`` is not ``P000998``.

    :meth:`scrub` tokenises the texts, gathers every candidate token and looks them all up in the
    ids at once (one vectorised ``isin``), so a million ids cost one pass in C, not a regular
    expression of a million alternatives nor a Python set of them.  ``values`` and ``withheld``
    count the values changed, and those in which an id of someone not shown was withheld.

    ``like``: ids whose *shape* also marks an id — any token that reads like one of them with other
    digits (``NOMINAL-20001`` like ``NOMINAL-10001``) is withheld too.  It is the fallback when
    the full list of ids is not at hand: it errs towards withholding, never towards showing.
    """

    def __init__(self, person_ids: Iterable[object], pseudonyms: Mapping[str, str], *, like: Iterable[str] = ()):
        self._pseudonyms = {str(k): v for k, v in pseudonyms.items()}
        shapes = sorted({_DIGITS.sub(lambda m: f"\\d{{{len(m.group())}}}", re.escape(str(i)))
                         for i in like if str(i)})
        self._shape = re.compile("|".join(shapes)) if shapes else None
        given = person_ids if isinstance(person_ids, pd.Series) else pd.Series(list(person_ids), dtype=object)
        ids = pd.concat([given.dropna().astype(str), pd.Series(list(self._pseudonyms), dtype=object)],
                        ignore_index=True)
        self._ids = ids[ids != ""]
        chars = set(self._ids.str.cat()) if len(self._ids) else set()
        others = sorted(c for c in chars if not _WORD.fullmatch(c))
        self._run = re.compile(r"[\w" + "".join(re.escape(c) for c in others) + "]+")
        self._whole_only = not others  # a run is one word, and the only candidate
        self._longest = int(self._ids.str.len().max()) if len(self._ids) else 0
        self.values = 0
        self.withheld = 0

    def _candidates(self, run: str) -> Iterable[str]:
        yield run
        if self._whole_only:
            return
        words = [m.span() for m in _WORD.finditer(run)]
        for i, (start, _end) in enumerate(words):
            for _s, end in words[i:]:
                if end - start > self._longest:
                    break
                yield run[start:end]

    def _spans(self, run: str, found: set[str]) -> list[tuple[int, int]]:
        """Where ids are in one run: the whole run, or else the longest id from each word on."""
        if run in found:
            return [(0, len(run))]
        if self._whole_only:
            return []
        words = [m.span() for m in _WORD.finditer(run)]
        spans, i = [], 0
        while i < len(words):
            start = words[i][0]
            ends = [j for j in range(i, len(words)) if words[j][1] - start <= self._longest]
            hit = next((j for j in reversed(ends) if run[start:words[j][1]] in found), None)
            if hit is not None:
                spans.append((start, words[hit][1]))
            i = i + 1 if hit is None else hit + 1
        return spans

    def _replace(self, text: str, runs: list[re.Match], found: set[str], count: bool) -> str:
        out, last, withheld = [], 0, False
        for m in runs:
            for start, end in self._spans(m.group(), found):
                token = m.group()[start:end]
                out += [text[last:m.start() + start], self._pseudonyms.get(token, WITHHELD)]
                withheld |= token not in self._pseudonyms
                last = m.start() + end
        if not out:
            return text
        if count:
            self.values += 1
            self.withheld += withheld
        return "".join(out) + text[last:]

    def scrub(self, values: Iterable[object], *, count: bool = True) -> list[str]:
        """Every value as text with every person id in it replaced (counted unless ``count`` is False)."""
        texts = ["" if v is None else str(v) for v in values]
        runs = [list(self._run.finditer(t)) for t in texts]
        candidates = list({c for found in runs for m in found for c in self._candidates(m.group())})
        found = set(self._ids[self._ids.isin(candidates)]) if candidates and len(self._ids) else set()
        if self._shape is not None:
            found |= {c for c in candidates if self._shape.fullmatch(c)}
        return [self._replace(t, r, found, count) for t, r in zip(texts, runs, strict=True)]
