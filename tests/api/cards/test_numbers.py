from __future__ import annotations

import base64
import hashlib
import hmac
import random
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.cards.numbers import (
    NONCE_BYTES,
    SANDBOX_BIN,
    CardDataError,
    CardVault,
    expiry_for,
    generate_pan,
    last4,
    luhn_check_digit,
    luhn_valid,
)

KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
OTHER_KEY = "ff" * 32

# Stripe's documented test card numbers (a selection covering every prefix family).
STRIPE_TEST_PANS = [
    "4242424242424242",
    "4000056655665556",
    "5555555555554444",
    "2223003122003222",
    "5200828282828210",
    "5105105105105100",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "6011000990139424",
    "3056930009020004",
    "36227206271667",
    "3566002020360505",
    "6200000000000005",
    "4000000000000002",
    "4000000000009995",
    "4000000000000069",
    "4000000000000127",
    "4000000000000119",
    "4000002500003155",
    "4000002760003184",
    "4000000760000002",
    "4000001240000000",
    "4000008260000000",
    "4000000000000077",
    "4000000000000341",
]


@pytest.fixture(scope="module")
def vault() -> CardVault:
    return CardVault(KEY)


# --- Luhn ---------------------------------------------------------------------


@pytest.mark.parametrize("pan", [*STRIPE_TEST_PANS, "79927398713", "4111111111111111"])
def test_known_numbers_are_luhn_valid(pan):
    assert luhn_valid(pan)


@pytest.mark.parametrize(
    "pan",
    ["4242424242424241", "79927398710", "", "4", "4242 4242 4242 4242", "424242424242424x", "\uff14\uff12"],
)
def test_wrong_or_malformed_numbers_are_not_luhn_valid(pan):
    assert not luhn_valid(pan)


def test_check_digit_of_the_textbook_example():
    assert luhn_check_digit("7992739871") == "3"


@given(st.from_regex(r"[0-9]{1,18}", fullmatch=True))
def test_appending_the_check_digit_makes_any_number_valid(partial):
    assert luhn_valid(partial + luhn_check_digit(partial))


@given(st.from_regex(r"[0-9]{15}", fullmatch=True), st.integers(min_value=0, max_value=15), st.data())
def test_luhn_catches_every_single_digit_error(partial, position, data):
    pan = partial + luhn_check_digit(partial)
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != pan[position]]))
    assert not luhn_valid(pan[:position] + wrong + pan[position + 1 :])


# --- issuing --------------------------------------------------------------------


def test_the_sandbox_bin_is_no_stripe_test_number_prefix():
    assert all(not pan.startswith(SANDBOX_BIN) for pan in STRIPE_TEST_PANS)
    assert not SANDBOX_BIN.startswith(("40000", "4242"))


@given(st.randoms(use_true_random=False))
def test_generated_numbers_are_16_luhn_valid_digits_under_the_bin(rng):
    pan = generate_pan(rng=rng)
    assert len(pan) == 16
    assert pan.isdigit()
    assert pan.startswith(SANDBOX_BIN)
    assert luhn_valid(pan)
    assert pan not in STRIPE_TEST_PANS


@given(st.from_regex(r"[0-9]{6,15}", fullmatch=True), st.randoms(use_true_random=False))
def test_any_bin_can_be_used(bin_, rng):
    pan = generate_pan(bin_, rng)
    assert pan.startswith(bin_)
    assert len(pan) == 16
    assert luhn_valid(pan)


def test_a_seeded_rng_gives_the_same_number():
    assert generate_pan(rng=random.Random(7)) == generate_pan(rng=random.Random(7))


def test_the_default_source_does_not_repeat():
    assert len({generate_pan() for _ in range(200)}) == 200


@pytest.mark.parametrize("bad_bin", ["", "40000", "4000990x", "4" * 16])
def test_a_bad_bin_is_refused(bad_bin):
    with pytest.raises(ValueError, match="BIN"):
        generate_pan(bad_bin)


def test_last4():
    assert last4("4000990012345678") == "5678"
    with pytest.raises(ValueError, match="four digits"):
        last4("123")


@pytest.mark.parametrize(
    ("issued", "expiry"),
    [(date(2026, 1, 1), (1, 2030)), (date(2026, 12, 31), (12, 2030)), (date(2028, 2, 29), (2, 2032))],
)
def test_expiry_is_four_years_out(issued, expiry):
    assert expiry_for(issued) == expiry


# --- the vault ------------------------------------------------------------------


def test_keys_are_accepted_as_hex_or_base64():
    raw = bytes.fromhex(KEY)
    pan = "4000990000000004"
    blob = CardVault(KEY).encrypt(pan, "card_1")
    for spelling in (
        KEY.upper(),
        f"  {KEY}\n",
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    ):
        assert CardVault(spelling).decrypt(blob, "card_1") == pan


@pytest.mark.parametrize(
    "bad_key", ["", "abc", "00" * 31, "00" * 33, "zz" * 32, base64.b64encode(b"x" * 16).decode()]
)
def test_a_key_that_is_not_32_bytes_is_refused(bad_key):
    with pytest.raises(ValueError, match="CARD_DATA_KEY"):
        CardVault(bad_key)


def test_the_vault_never_shows_its_key(vault):
    assert KEY not in repr(vault)
    assert "redacted" in repr(vault)


def test_encryption_is_randomised(vault):
    pan = "4000990000000004"
    first, second = vault.encrypt(pan, "card_1"), vault.encrypt(pan, "card_1")
    assert first != second
    assert first[:NONCE_BYTES] != second[:NONCE_BYTES]
    assert pan.encode() not in first
    assert len(first) == NONCE_BYTES + len(pan) + 16  # nonce, ciphertext, GCM tag


def test_only_card_numbers_are_encrypted(vault):
    with pytest.raises(ValueError, match="card number"):
        vault.encrypt("4000990000000005", "card_1")  # Luhn-invalid


def test_a_blob_from_another_key_does_not_decrypt(vault):
    blob = CardVault(OTHER_KEY).encrypt("4000990000000004", "card_1")
    with pytest.raises(CardDataError):
        vault.decrypt(blob, "card_1")


@pytest.mark.parametrize("blob", [b"", b"\x00" * NONCE_BYTES, b"\x00" * 40])
def test_a_truncated_or_garbage_blob_does_not_decrypt(vault, blob):
    with pytest.raises(CardDataError):
        vault.decrypt(blob, "card_1")


def test_lookup_hash_is_keyed_and_stable(vault):
    pan = "4000990000000004"
    digest = vault.lookup_hash(pan)
    assert digest == vault.lookup_hash(pan)
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert digest != CardVault(OTHER_KEY).lookup_hash(pan)
    assert digest != vault.lookup_hash("4000990000000012")
    with pytest.raises(ValueError, match="digits"):
        vault.lookup_hash("4000-9900")


def test_the_lookup_key_is_derived_not_the_master(vault):
    # A hash keyed with the master key itself would not match the vault's.
    pan = "4000990000000004"
    assert vault.lookup_hash(pan) != hmac.new(bytes.fromhex(KEY), pan.encode(), hashlib.sha256).hexdigest()


pans = st.randoms(use_true_random=False).map(lambda rng: generate_pan(rng=rng))
card_ids = st.from_regex(r"card_[0-9a-z]{26}", fullmatch=True)


@given(pans, card_ids)
def test_encryption_round_trips(vault, pan, card_id):
    assert vault.decrypt(vault.encrypt(pan, card_id), card_id) == pan


@given(pans, card_ids, card_ids)
def test_a_blob_moved_to_another_card_does_not_decrypt(vault, pan, card_id, other_card_id):
    if card_id == other_card_id:
        return
    with pytest.raises(CardDataError):
        vault.decrypt(vault.encrypt(pan, card_id), other_card_id)


@given(pans, st.data())
def test_any_tampered_byte_is_detected(vault, pan, data):
    blob = bytearray(vault.encrypt(pan, "card_1"))
    position = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    blob[position] ^= flip
    with pytest.raises(CardDataError):
        vault.decrypt(bytes(blob), "card_1")
