"""Opaque, time-ordered identifiers with a type prefix (``usr_…``, ``acct_…``).

26 characters of Crockford base32 after the prefix: a 48-bit millisecond
timestamp then 80 random bits, like a ULID, so new rows land at the end of
their primary-key index and ids sort roughly by creation.
"""

from __future__ import annotations

import os
import time
from typing import Annotated

from fastapi import Path

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

# What an id in a path or body may look like: letters, digits, ``_`` and ``-``,
# at most 64 characters. Anything else (a NUL byte above all, which PostgreSQL
# refuses in text) is bad input, answered 422 before any query runs.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

# The one type of every ``{id}`` in a route's path: bad ids are 422 problem+json, never a query.
PathId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]


def new_id(prefix: str) -> str:
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"
