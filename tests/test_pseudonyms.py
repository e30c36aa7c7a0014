"""Keyed pseudonyms: stable, keyed, not reversible, and refused without a proper key."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hkc.definitions.settings import PartnerSettings
from hkc.partnership.pseudonyms import (
    DEMO_KEY,
    KEY_MISSING,
    KEY_TOO_SHORT,
    KEY_TOO_SIMPLE,
    MIN_DISTINCT_CHARACTERS,
    MIN_KEY_LENGTH,
    PseudonymKeyError,
    check_key,
    key_fingerprint,
    partner_key,
    pseudonym,
    pseudonymise,
)

KEY = b"pseudonym-test-key/0123456789/abcdefghij"
OTHER = b"another-test-key/9876543210/ABCDEFGHIJ"


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
    assert partner_key(settings, environ={"MY_KEY": "my key: " + "0123456789abcdefghij" * 2}) == \
        b"my key: " + b"0123456789abcdefghij" * 2
    with pytest.raises(PseudonymKeyError) as err:
        partner_key(settings, environ={"MY_KEY": "short"})
    assert str(err.value) == KEY_TOO_SHORT.format(var="MY_KEY", length=5, n=32)
    with pytest.raises(PseudonymKeyError, match="published demo key"):
        partner_key(settings, environ={"MY_KEY": DEMO_KEY.decode()})


def test_partner_key_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("HKC_PSEUDONYM_KEY", "environment key 0123456789 abcdefghij")
    assert partner_key(PartnerSettings()) == b"environment key 0123456789 abcdefghij"


def test_demo_key_is_fixed_and_its_pseudonyms_say_demo():
    assert partner_key(PartnerSettings(), demo=True, environ={}) == DEMO_KEY
    assert pseudonym("P1", DEMO_KEY).startswith("DEMO-")


def test_check_key_accepts_text_and_rejects_empty():
    assert check_key("a text key: 0123456789 abcdefghij") == b"a text key: 0123456789 abcdefghij"
    with pytest.raises(PseudonymKeyError, match="set HKC_PSEUDONYM_KEY"):
        check_key(b"")


def test_key_fingerprint_identifies_the_key_without_revealing_it():
    assert key_fingerprint(KEY) == key_fingerprint(KEY) != key_fingerprint(OTHER)
    assert KEY.hex()[:8] not in key_fingerprint(KEY)


# -- the key rule: characters, not bytes; and enough different ones ------------------------------------
@pytest.mark.parametrize("key", ["\u20ac" * 11, ("\u20ac" * 11).encode("utf-8")], ids=["text", "utf-8 bytes"])
def test_eleven_euro_signs_are_eleven_characters_and_refused_as_too_short(key):
    assert len(("\u20ac" * 11).encode("utf-8")) >= MIN_KEY_LENGTH  # the byte count that used to pass
    with pytest.raises(PseudonymKeyError) as err:
        check_key(key)
    assert str(err.value) == KEY_TOO_SHORT.format(var="HKC_PSEUDONYM_KEY", length=11, n=32)


def test_a_key_of_one_repeated_character_is_refused_as_too_simple():
    with pytest.raises(PseudonymKeyError) as err:
        check_key(b"k" * 32)
    assert str(err.value) == KEY_TOO_SIMPLE.format(var="HKC_PSEUDONYM_KEY", distinct=1, n=16)
    assert "at least 16 different characters" in str(err.value)
    with pytest.raises(PseudonymKeyError, match="MY_KEY uses only 1 different characters"):
        partner_key(PartnerSettings(key_variable="MY_KEY"), environ={"MY_KEY": "k" * 64})


def test_sixteen_different_characters_pass_and_fifteen_do_not():
    fifteen, sixteen = "abcdefghijklmno", "abcdefghijklmnop"
    assert check_key((sixteen * 3)[:40]) == (sixteen * 3)[:40].encode()
    with pytest.raises(PseudonymKeyError) as err:
        check_key((fifteen * 3)[:40])
    assert str(err.value) == KEY_TOO_SIMPLE.format(var="HKC_PSEUDONYM_KEY", distinct=15, n=16)


def test_a_key_of_32_non_ascii_characters_is_accepted_as_its_utf8_bytes():
    key = "".join(chr(0x3b1 + i % 20) for i in range(32))  # Greek letters: 2 bytes each in UTF-8
    assert check_key(key) == key.encode("utf-8") == check_key(key.encode("utf-8"))


def test_the_generated_key_the_messages_suggest_passes():
    assert "secrets.token_urlsafe(48)" in KEY_TOO_SIMPLE
    assert all(check_key(secrets.token_urlsafe(48)) for _ in range(200))


@given(st.text(min_size=1, max_size=80))
def test_check_key_counts_characters_and_different_characters_of_any_text(text):
    short, simple = len(text) < MIN_KEY_LENGTH, len(set(text)) < MIN_DISTINCT_CHARACTERS
    if text.encode("utf-8") == DEMO_KEY:
        return
    if short or simple:
        with pytest.raises(PseudonymKeyError):
            check_key(text)
    else:
        assert check_key(text) == text.encode("utf-8", errors="surrogateescape")
