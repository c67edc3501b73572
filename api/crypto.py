"""Secrets at rest: AES-256-GCM under keys derived from ``CARD_DATA_KEY``.

One scheme for every secret the platform keeps (card numbers, api/cards/numbers.py; the
staff's TOTP secrets, api/auth/mfa.py): the configured master key (32 bytes, as 64 hex
characters or base64) is split by HKDF-SHA256 into one independent key per purpose (its
``info``), so a key for one purpose reveals nothing about another's. A sealed value is
``nonce (12 random bytes) || ciphertext and tag``, bound by GCM's associated data to the row
it belongs to: a blob copied onto another row fails to open instead of showing its secret.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12  # GCM's standard nonce; random, so at most ~2**32 encryptions per key
KEY_BYTES = 32


class SealedDataError(Exception):
    """A sealed value cannot be opened: wrong key, wrong row, truncated or altered."""


def decode_key(key: str) -> bytes:
    """32 bytes from 64 hex characters or from base64 (standard or URL-safe)."""
    text = key.strip()
    if len(text) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ValueError("CARD_DATA_KEY must be 32 bytes: 64 hex characters or base64")
    return raw


def derive_key(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(master)


def seal(aead: AESGCM, plain: bytes, bound_to: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, plain, bound_to.encode())


def open_sealed(aead: AESGCM, blob: bytes, bound_to: str) -> bytes:
    if len(blob) <= NONCE_BYTES:
        raise SealedDataError("the sealed value is truncated")
    try:
        return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], bound_to.encode())
    except InvalidTag:
        raise SealedDataError("the sealed value does not match its row or key") from None


class SecretBox:
    """Seals short secrets of one purpose (``info``) under the master key."""

    __slots__ = ("_aead",)

    def __init__(self, key: str, *, info: bytes) -> None:
        self._aead = AESGCM(derive_key(decode_key(key), info))

    def __repr__(self) -> str:
        return "SecretBox(<redacted>)"

    def encrypt(self, plain: str, bound_to: str) -> bytes:
        return seal(self._aead, plain.encode(), bound_to)

    def decrypt(self, blob: bytes, bound_to: str) -> str:
        return open_sealed(self._aead, blob, bound_to).decode()
