"""Keyed pseudonyms: stable, keyed, not reversible, and refused without a proper key."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hkc.definitions.settings import PartnerSettings
from hkc.partnership.pseudonyms import (
    DEMO_KEY,
    KEY_MISSING,
    KEY_TOO_SHORT,
    PseudonymKeyError,
    check_key,
    key_fingerprint,
    partner_key,
    pseudonym,
    pseudonymise,
)

KEY = b"k" * 32
OTHER = b"o" * 32


def test_pseudonym_is_a_prefixed_16_hex_digit_hmac_sha256_of_the_id():
    expected = hmac.new(KEY, b"hkc-pseudonym-v1\x00P000123", hashlib.sha256).hexdigest()[:16]
    assert pseudonym("P000123", KEY) == "HKC-" + expected
    assert re.fullmatch(r"HKC-[0-9a-f]{16}", pseudonym(123, KEY))


@given(st.text(min_size=1, max_size=40))
def test_pseudonym_is_stable_and_depends_on_the_key(person_id):
    assert pseudonym(person_id, KEY) == pseudonym(person_id, KEY)
    assert pseudonym(person_id, KEY) != pseudonym(person_id, OTHER)


def test_distinct_ids_get_distinct_pseudonyms():
    ids = [f"P{i:07d}" for i in range(20_000)]
    mapping = pseudonymise(ids + ids[:10], KEY)
    assert len(mapping) == len(set(mapping.values())) == 20_000


def test_partner_key_without_the_variable_says_how_to_set_it():
    with pytest.raises(PseudonymKeyError) as err:
        partner_key(PartnerSettings(), environ={})
    assert str(err.value) == KEY_MISSING.format(var="HKC_PSEUDONYM_KEY", n=32)
    assert str(err.value).startswith("partner outputs not written: set HKC_PSEUDONYM_KEY to a secret of at least "
                                     "32 characters")


def test_partner_key_reads_the_configured_variable_and_refuses_short_or_demo_keys():
    settings = PartnerSettings(key_variable="MY_KEY")
    assert partner_key(settings, environ={"MY_KEY": "x" * 40}) == b"x" * 40
    with pytest.raises(PseudonymKeyError) as err:
        partner_key(settings, environ={"MY_KEY": "short"})
    assert str(err.value) == KEY_TOO_SHORT.format(var="MY_KEY", length=5, n=32)
    with pytest.raises(PseudonymKeyError, match="published demo key"):
        partner_key(settings, environ={"MY_KEY": DEMO_KEY.decode()})


def test_partner_key_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("HKC_PSEUDONYM_KEY", "e" * 48)
    assert partner_key(PartnerSettings()) == b"e" * 48


def test_demo_key_is_fixed_and_its_pseudonyms_say_demo():
    assert partner_key(PartnerSettings(), demo=True, environ={}) == DEMO_KEY
    assert pseudonym("P1", DEMO_KEY).startswith("DEMO-")


def test_check_key_accepts_text_and_rejects_empty():
    assert check_key("z" * 32) == b"z" * 32
    with pytest.raises(PseudonymKeyError, match="set HKC_PSEUDONYM_KEY"):
        check_key(b"")


def test_key_fingerprint_identifies_the_key_without_revealing_it():
    assert key_fingerprint(KEY) == key_fingerprint(KEY) != key_fingerprint(OTHER)
    assert KEY.hex()[:8] not in key_fingerprint(KEY)
