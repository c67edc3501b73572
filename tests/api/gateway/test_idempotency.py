"""Idempotency-Key on POST /v1/auth/register, and the mechanism itself with two real sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.errors import Conflict, UnprocessableEntity
from api.gateway.idempotency import Idempotency, IdempotentReplay
from tests.conftest import count_rows, problem
from tests.factories import PASSWORD

BODY = {"email": "idem@example.com", "password": PASSWORD, "full_name": "Idem Potent"}


def _register(client: TestClient, key: str, body: dict[str, str] = BODY):
    return client.post("/v1/auth/register", json=body, headers={"Idempotency-Key": key})


def test_same_key_and_body_replays_the_first_answer(api: TestClient, engine: Engine) -> None:
    first = _register(api, "key-1")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = _register(api, "key-1")
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.content == first.content
    assert again.headers["x-request-id"]
    assert count_rows(engine, "users") == 1


def test_same_key_with_another_body_is_refused(api: TestClient, engine: Engine) -> None:
    assert _register(api, "key-2").status_code == 201
    problem(_register(api, "key-2", {**BODY, "full_name": "Someone Else"}), 422, "idempotency_key_reused")
    assert count_rows(engine, "users") == 1


def test_without_a_key_nothing_is_replayed(api: TestClient, engine: Engine) -> None:
    assert api.post("/v1/auth/register", json=BODY).status_code == 201
    problem(api.post("/v1/auth/register", json=BODY), 409, "email_taken")
    assert count_rows(engine, "idempotency_keys") == 0


def test_errors_are_not_stored(api: TestClient, engine: Engine) -> None:
    problem(_register(api, "key-3", {**BODY, "password": "short"}), 422)
    assert count_rows(engine, "idempotency_keys") == 0
    assert _register(api, "key-3").status_code == 201  # a retry simply runs again


@pytest.mark.parametrize("key", ["k" * 256, " ", "tab\tkey"])
def test_bad_keys_are_a_400(api: TestClient, engine: Engine, key: str) -> None:
    problem(_register(api, key), 400, "invalid_idempotency_key")
    assert count_rows(engine, "users") == 0


def test_a_key_of_255_characters_is_fine(api: TestClient) -> None:
    assert _register(api, "k" * 255).status_code == 201
    assert _register(api, "k" * 255).headers["idempotent-replayed"] == "true"


def test_keys_are_scoped_to_the_caller(api: TestClient, engine: Engine) -> None:
    assert _register(api, "shared-key").status_code == 201
    elsewhere = TestClient(api.app, client=("10.9.8.7", 1234))
    other = _register(elsewhere, "shared-key", {**BODY, "email": "someone@example.com"})
    assert other.status_code == 201, other.text  # not a reuse: another caller's key
    assert "idempotent-replayed" not in other.headers
    assert count_rows(engine, "users") == 2


def _idem(session: Session, *, scope: str = "usr_a", key: str = "k", fingerprint: str = "f1") -> Idempotency:
    return Idempotency(session, scope=scope, key=key, fingerprint=fingerprint, ttl=timedelta(hours=24))


def test_a_key_in_use_by_a_running_request_is_a_409(
    session_factory: sessionmaker[Session], engine: Engine
) -> None:
    with session_factory() as first, session_factory() as second:
        holder = _idem(first)
        holder.begin()  # the first request holds the key in its open transaction

        with pytest.raises(Conflict) as raised:
            _idem(second).begin()
        assert raised.value.code == "idempotency_key_in_use"
        assert raised.value.status == 409
        second.rollback()

        _idem(second, scope="usr_b").begin()  # another caller's same key is free
        second.rollback()

        holder.save(201, {"id": "usr_1"})
        first.commit()

        with pytest.raises(IdempotentReplay) as replay:
            _idem(second).begin()
        assert replay.value.status_code == 201
        assert replay.value.body == {"id": "usr_1"}
        second.rollback()

        with pytest.raises(UnprocessableEntity) as reused:
            _idem(second, fingerprint="f2").begin()
        assert reused.value.code == "idempotency_key_reused"
        second.rollback()


def test_an_expired_record_is_ignored_and_replaced(
    session_factory: sessionmaker[Session], engine: Engine
) -> None:
    with session_factory() as session:
        old = _idem(session, fingerprint="old")
        old.begin()
        old.save(201, {"id": "usr_old"})
        session.commit()
        session.execute(text("update idempotency_keys set expires_at = now() - interval '1 second'"))
        session.commit()

        fresh = _idem(session, fingerprint="new")
        fresh.begin()  # neither a replay nor a reuse
        fresh.save(200, {"id": "usr_new"})
        session.commit()

        with pytest.raises(IdempotentReplay) as replay:
            _idem(session, fingerprint="new").begin()
        assert replay.value.body == {"id": "usr_new"}
        assert replay.value.status_code == 200
        session.rollback()
        row = session.execute(
            text("select expires_at > now() + interval '23 hours' from idempotency_keys")
        ).one()
        assert row[0] is True
    assert count_rows(engine, "idempotency_keys") == 1


def test_the_record_is_kept_at_least_24_hours(api: TestClient, engine: Engine) -> None:
    assert _register(api, "key-ttl").status_code == 201
    with engine.connect() as conn:
        hours = conn.execute(
            text("select extract(epoch from expires_at - created_at) / 3600 from idempotency_keys")
        ).scalar_one()
    assert hours >= 24
