"""Access tokens are verified once per token and remembered until they expire
(``api.auth.security.AccessTokens``); what the cache never answers is revocation."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from api.auth.security import AccessTokens, TokenSettings, issue_access_token
from api.errors import Unauthorized

CONFIG = TokenSettings(
    secret="s" * 32, algorithm="HS256", issuer="iss", audience="aud", access_ttl=timedelta(minutes=15)
)


def _token(**claims: object) -> str:
    token = issue_access_token(CONFIG, user_id="usr_1", role="customer", now=datetime.now(UTC), version=3)
    if not claims:
        return token
    decoded = jwt.decode(token, CONFIG.secret, algorithms=["HS256"], audience="aud")
    return jwt.encode({**decoded, **claims}, CONFIG.secret, algorithm="HS256")


def test_a_token_is_decoded_once_then_answered_from_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = AccessTokens(CONFIG)
    token = _token()
    first = tokens.principal(token)
    assert (first.user_id, first.role, first.version) == ("usr_1", "customer", 3)

    def decode(*_args: object, **_kwargs: object) -> None:
        pytest.fail("decoded again")

    monkeypatch.setattr(jwt, "decode", decode)
    assert tokens.principal(token) is first


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    tokens = AccessTokens(CONFIG)
    now = int(time.time())
    token = _token(iat=now - 10, exp=now + 2)
    assert tokens.principal(token).user_id == "usr_1"
    time.sleep(now + 2.05 - time.time())
    with pytest.raises(Unauthorized) as refused:
        tokens.principal(token)
    assert refused.value.code == "token_expired"


def test_only_the_verified_string_matches_and_refusals_are_not_remembered() -> None:
    tokens = AccessTokens(CONFIG, max_entries=2)
    token = _token()
    tokens.principal(token)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for _ in range(2):
        with pytest.raises(Unauthorized):
            tokens.principal(forged)
    # Bounded: the oldest entry goes first.
    others = [_token(jti=f"jti_{n}") for n in range(3)]
    for other in others:
        tokens.principal(other)
    assert len(tokens._entries) == 2
