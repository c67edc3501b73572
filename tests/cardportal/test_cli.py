"""The ``cardportal`` command, run in-process against the test database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from cardportal.cli import main
from cardportal.settings import Settings, get_settings
from tests.conftest import keep_login_passwords


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, engine: Engine
) -> Iterator[None]:
    for field in Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CARDPORTAL_HOME", str(keep_login_passwords(tmp_path / "home")))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _role(engine: Engine, email: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            text("select role from users where email = :e"), {"e": email}
        ).scalar_one_or_none()


def test_users_create_with_a_role(cli_env: None, engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["users", "create", "--email", "Ana@Example.com", "--role", "analyst", "--password", "p" * 16]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "created ana@example.com" in out
    assert "second factor: optional in sandbox, required in production" in out
    assert _role(engine, "ana@example.com") == "analyst"
    # Start-up also made the sandbox's first admin.
    assert _role(engine, "admin@cardportal.local") == "admin"


def test_users_create_again_sets_the_role(
    cli_env: None, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["users", "create", "--email", "fin@example.com", "--role", "analyst", "--password", "p" * 16])
        == 0
    )
    assert (
        main(["users", "create", "--email", "fin@example.com", "--role", "finance", "--password", "p" * 16])
        == 0
    )
    assert "role set to finance" in capsys.readouterr().out
    assert _role(engine, "fin@example.com") == "finance"


def test_users_create_generates_a_password_when_none_is_given(
    cli_env: None, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["users", "create", "--email", "gen@example.com", "--role", "customer"]) == 0
    out = capsys.readouterr().out
    assert "password: " in out
    assert _role(engine, "gen@example.com") == "customer"


def test_users_create_refuses_a_weak_password_with_a_message(
    cli_env: None, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["users", "create", "--email", "weak@example.com", "--role", "analyst", "--password", "short"])
    assert "12 characters" in str(exited.value.code)
    assert _role(engine, "weak@example.com") is None


def test_users_create_refuses_an_unknown_role(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["users", "create", "--email", "x@example.com", "--role", "root", "--password", "p" * 16])
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_a_configuration_error_is_a_clean_exit(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CARDPORTAL_ENV", "production")
    with pytest.raises(SystemExit) as exited:
        main(["db", "current"])
    assert "JWT_SECRET" in str(exited.value.code)


def test_db_current_names_the_head(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "current"]) == 0
    assert "(head)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [["api", "--host", "0.0.0.0"], ["up", "--host", "10.1.2.3"], ["dashboards", "--host", "::"]]
)
def test_sandbox_refuses_to_listen_beyond_loopback(
    cli_env: None, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """Issue 21, finding 10: a forgotten CARDPORTAL_ENV served the sandbox's public secrets and
    movable clock on any address. It starts nothing, and says why and what to set."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "loopback" in err
    assert "SANDBOX_LISTEN_PUBLIC" in err
    assert "CARDPORTAL_ENV=production" in err


def test_sandbox_listens_on_loopback_or_when_told(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cardportal.cli import sandbox_listen_refusal

    for field in Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)
    sandbox = Settings(CARDPORTAL_HOME=str(tmp_path))  # type: ignore[call-arg]
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", None):
        assert sandbox_listen_refusal(sandbox, host) is None, host
    for host in ("0.0.0.0", "::", "192.168.1.10", "api.example.com"):
        assert sandbox_listen_refusal(sandbox, host), host
    shared = Settings(CARDPORTAL_HOME=str(tmp_path), SANDBOX_LISTEN_PUBLIC="1")  # type: ignore[call-arg]
    assert sandbox_listen_refusal(shared, "0.0.0.0") is None
