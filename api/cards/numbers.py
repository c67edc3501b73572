"""Card numbers: issuing them, checking them, and keeping them at rest.

- :func:`generate_pan` draws a 16-digit, Luhn-valid number under the sandbox
  BIN. ``40009900`` is an 8-digit Visa-range BIN (ISO/IEC 7812-1 since 2017)
  that none of Stripe's test card numbers start with: theirs are ``4242…``,
  ``4000 0…`` (the outcome cards and the country cards ``4000 0CCC…``) and the
  other brands' ranges, so a sandbox card is never mistaken for one.
- :class:`CardVault` encrypts a number with AES-256-GCM and computes its
  look-up hash with HMAC-SHA256. One configured secret (``CARD_DATA_KEY``,
  32 bytes as 64 hex characters or base64) is split by HKDF-SHA256 into two
  independent keys, so the hash reveals nothing about the encryption key and
  either purpose can be rotated on its own. The ciphertext is bound to its
  card's id (GCM associated data): a blob copied onto another card's row fails
  to decrypt instead of showing the wrong number.
- Only :func:`last4` and the expiry ever leave the service. No CVV is
  generated or stored (PCI DSS 3.2.1 forbids keeping it after authorization).
"""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import date

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from api.crypto import NONCE_BYTES, SealedDataError, decode_key, derive_key, open_sealed, seal

SANDBOX_BIN = "40009900"
PAN_LENGTH = 16
# Cards are valid through the end of the issue month this many years later.
CARD_LIFETIME_YEARS = 4

_ENCRYPTION_INFO = b"cardportal card number encryption v1"
_LOOKUP_INFO = b"cardportal card number lookup hmac v1"


class CardDataError(Exception):
    """A stored card number cannot be decrypted: wrong key, wrong card, or altered."""


# --- numbers ----------------------------------------------------------------


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial + digit`` pass the Luhn check (ISO/IEC 7812-1 annex B)."""
    if not partial.isdigit() or not partial.isascii():
        raise ValueError("a card number holds digits only")
    total = 0
    # Walking from the right, the digit next to the check digit is doubled first.
    for position, char in enumerate(reversed(partial)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(pan: str) -> bool:
    """True when ``pan`` is digits only, at least two of them, and passes the Luhn check."""
    if len(pan) < 2 or not pan.isascii() or not pan.isdigit():
        return False
    return luhn_check_digit(pan[:-1]) == pan[-1]


def generate_pan(bin: str = SANDBOX_BIN, rng: random.Random | None = None) -> str:
    """A new 16-digit, Luhn-valid card number under ``bin``.

    ``rng`` is for reproducible tests; by default the digits come from the
    operating system's CSPRNG, since a guessable number invites fraud.
    """
    if not (bin.isascii() and bin.isdigit()) or not 6 <= len(bin) < PAN_LENGTH:
        raise ValueError("a BIN is 6 to 15 digits")
    source = rng if rng is not None else random.SystemRandom()
    account_digits = PAN_LENGTH - len(bin) - 1
    partial = bin + "".join(str(source.randrange(10)) for _ in range(account_digits))
    return partial + luhn_check_digit(partial)


def last4(pan: str) -> str:
    if len(pan) < 4 or not pan.isascii() or not pan.isdigit():
        raise ValueError("a card number holds at least four digits")
    return pan[-4:]


def expiry_for(issued: date) -> tuple[int, int]:
    """``(exp_month, exp_year)``: the issue month, CARD_LIFETIME_YEARS later."""
    return issued.month, issued.year + CARD_LIFETIME_YEARS


# --- at rest (the scheme is api/crypto.py's, shared with every secret kept at rest) ---


class CardVault:
    """Encrypts card numbers and computes their look-up hash from one master key."""

    __slots__ = ("_aead", "_lookup_key")

    def __init__(self, key: str) -> None:
        master = decode_key(key)
        self._aead = AESGCM(derive_key(master, _ENCRYPTION_INFO))
        self._lookup_key = derive_key(master, _LOOKUP_INFO)

    def __repr__(self) -> str:
        return "CardVault(<redacted>)"

    def encrypt(self, pan: str, card_id: str) -> bytes:
        """``nonce (12 bytes) || ciphertext and tag``, bound to ``card_id``."""
        if not luhn_valid(pan):
            raise ValueError("not a card number")
        return seal(self._aead, pan.encode("ascii"), card_id)

    def decrypt(self, blob: bytes, card_id: str) -> str:
        """The card number; :class:`CardDataError` when the blob, key or card id do not match."""
        if len(blob) <= NONCE_BYTES:
            raise CardDataError("the stored card number is truncated")
        try:
            plain = open_sealed(self._aead, blob, card_id)
        except SealedDataError:
            raise CardDataError("the stored card number does not match its card or key") from None
        return plain.decode("ascii")

    def lookup_hash(self, pan: str) -> str:
        """A keyed hash (HMAC-SHA256, hex) to find a card by its number without decrypting."""
        if not pan.isascii() or not pan.isdigit():
            raise ValueError("a card number holds digits only")
        return hmac.new(self._lookup_key, pan.encode("ascii"), hashlib.sha256).hexdigest()
