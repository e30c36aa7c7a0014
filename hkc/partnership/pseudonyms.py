"""Keyed pseudonyms for partner outputs: the person id never leaves the police view.

A pseudonym is HMAC-SHA256 of the source ``person_id`` under a secret key, shown as ``HKC-`` and
16 hex digits.  It is stable (the same person has the same pseudonym every quarter, so a meeting can
follow a child between packs) and cannot be reversed or recomputed without the key.  The key comes
from the environment (``HKC_PSEUDONYM_KEY`` by default, ``[partner] key_variable``); the same key is
needed to import the meeting's decisions back.

>>> pseudonym("P000123", b"k" * 32)
'HKC-6ac8b64d0c2decb6'

``hkc demo`` uses :data:`DEMO_KEY`, which is published here and therefore protects nothing: its
pseudonyms start ``DEMO-`` and every pack written with it says :data:`DEMO_LABEL`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping

from hkc.definitions import PartnerSettings
from hkc.errors import HkcError

__all__ = ["pseudonym", "pseudonymise", "partner_key", "check_key", "key_fingerprint", "is_demo_key", "keyed_digest",
           "PseudonymKeyError", "DEMO_KEY", "DEMO_LABEL", "MIN_KEY_LENGTH", "PREFIX", "DEMO_PREFIX",
           "KEY_MISSING", "KEY_TOO_SHORT"]

PREFIX = "HKC-"
DEMO_PREFIX = "DEMO-"
HEX_DIGITS = 16  # 64 bits: no collision to expect below billions of people
MIN_KEY_LENGTH = 32
DEMO_KEY = b"hkc-demo-key: published in the source code, NOT FOR REAL DATA"
DEMO_LABEL = "DEMO KEY \u2014 not for real data"
_DOMAIN = b"hkc-pseudonym-v1\x00"

KEY_MISSING = ("partner outputs not written: set {var} to a secret of at least {n} characters "
               "(e.g. export {var}=\"$(python -c 'import secrets; print(secrets.token_urlsafe(48))')\"), "
               "keep it out of the repository, and use the same key when importing decisions")
KEY_TOO_SHORT = ("partner outputs not written: {var} holds {length} characters; set it to a secret of at least "
                 "{n} characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')")
KEY_IS_DEMO = ("partner outputs not written: {var} holds the published demo key; set it to a secret of your own "
               "of at least {n} characters")


class PseudonymKeyError(HkcError):
    """The pseudonymisation key is absent, too short, or the published demo key."""


def is_demo_key(key: bytes) -> bool:
    return hmac.compare_digest(key, DEMO_KEY)


def check_key(key: bytes | str | None, *, variable: str = "HKC_PSEUDONYM_KEY") -> bytes:
    """``key`` as bytes, or :class:`PseudonymKeyError` saying how to set a usable one."""
    if key is None or len(key) == 0:
        raise PseudonymKeyError(KEY_MISSING.format(var=variable, n=MIN_KEY_LENGTH))
    if isinstance(key, str):
        key = key.encode("utf-8")
    if is_demo_key(key):
        return key
    if len(key) < MIN_KEY_LENGTH:
        raise PseudonymKeyError(KEY_TOO_SHORT.format(var=variable, length=len(key), n=MIN_KEY_LENGTH))
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


def pseudonym(person_id: object, key: bytes) -> str:
    """The stable keyed pseudonym of one ``person_id`` (``HKC-`` + 16 hex digits)."""
    digest = hmac.new(key, _DOMAIN + str(person_id).encode("utf-8"), hashlib.sha256).hexdigest()
    return (DEMO_PREFIX if is_demo_key(key) else PREFIX) + digest[:HEX_DIGITS]


def pseudonymise(person_ids: Iterable[object], key: bytes) -> dict[str, str]:
    """``{person_id: pseudonym}`` for every distinct id given."""
    return {str(p): pseudonym(p, key) for p in dict.fromkeys(str(p) for p in person_ids)}


def keyed_digest(key: bytes, *parts: object, digits: int = 16) -> str:
    """A short HMAC of ``parts`` (used to seal a pack's protected cells)."""
    message = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return hmac.new(key, b"hkc-seal-v1\x00" + message, hashlib.sha256).hexdigest()[:digits]


def key_fingerprint(key: bytes) -> str:
    """Identifies the key without revealing it: a pack records it, the import checks it."""
    return keyed_digest(key, "key-fingerprint")
