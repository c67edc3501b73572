"""Settings: production refuses missing or placeholder secrets; the sandbox fills safe defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardportal.settings import (
    SANDBOX_ADMIN_PASSWORD,
    SANDBOX_NETWORK_API_KEY,
    SANDBOX_STRIPE_API_KEY,
    SANDBOX_STRIPE_WEBHOOK_SECRET,
    ConfigurationError,
    Settings,
)

REAL = {
    "JWT_SECRET": "j" * 48,
    "NETWORK_API_KEY": "network-key-from-the-vault-0123456789",
    "CARD_DATA_KEY": "c" * 64,
    "STRIPE_API_KEY": "sk_live_realkey",
    "STRIPE_WEBHOOK_SECRET": "whsec_realsecret0123456789abcdefghij",
    "PII_HASH_SALT": "s" * 40,
    "BUREAU_API_KEY": "bureau-key-from-the-vault-0123456789",
}
# Production settings that are not secrets but have no safe sandbox default.
REAL_SETTINGS = {
    "CREDIT_COUNSELING_PHONE": "1-800-388-2227",
    "CREDIT_BUREAU": "http",
    "BUREAU_URL": "https://bureau.example.com/api",
    "WAREHOUSE_URL": "postgresql://cardportal_owner:owner-secret@db.example.com/warehouse",
    "WAREHOUSE_READER_URL": "postgresql://cardportal_reports:reports-secret@db.example.com/warehouse",
    "DASHBOARDS_WAREHOUSE_URL": "postgresql://cardportal_dashboards:dash-secret@db.example.com/warehouse",
    "DASHBOARDS_DAGSTER_URL": "postgresql://cardportal_dashboards:dash-secret@db.example.com/dagster",
}


@pytest.fixture(autouse=True)
def _no_settings_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for field in Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)


def _production(home: Path, **values: str | None) -> Settings:
    merged = {**REAL, **REAL_SETTINGS, **values}
    return Settings(
        CARDPORTAL_ENV="production",
        CARDPORTAL_HOME=str(home),
        **{k: v for k, v in merged.items() if v is not None},  # type: ignore[arg-type]
    )


def test_production_with_every_secret_starts(tmp_path: Path) -> None:
    settings = _production(tmp_path)
    assert settings.env == "production"
    assert settings.secret("jwt_secret") == REAL["JWT_SECRET"]
    assert settings.first_admin_email is None
    assert not (tmp_path / "secrets").exists()  # nothing generated in production


@pytest.mark.parametrize("name", sorted(REAL))
def test_production_refuses_a_missing_secret(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        _production(tmp_path, **{name: None})


@pytest.mark.parametrize("name", sorted(REAL))
def test_production_refuses_a_blank_secret(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        _production(tmp_path, **{name: "   "})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NETWORK_API_KEY", SANDBOX_NETWORK_API_KEY),
        ("STRIPE_API_KEY", SANDBOX_STRIPE_API_KEY),
        ("STRIPE_WEBHOOK_SECRET", SANDBOX_STRIPE_WEBHOOK_SECRET),
        ("JWT_SECRET", "changeme"),
        ("CARD_DATA_KEY", "secret"),
        ("NETWORK_API_KEY", "password"),
    ],
)
def test_production_refuses_placeholders(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        _production(tmp_path, **{name: value})


def test_production_refuses_a_short_jwt_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="JWT_SECRET"):
        _production(tmp_path, JWT_SECRET="short-but-not-a-placeholder")


def test_production_with_a_first_admin_needs_a_real_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="FIRST_ADMIN_PASSWORD"):
        _production(tmp_path, FIRST_ADMIN_EMAIL="ops@example.com")
    with pytest.raises(ConfigurationError, match="FIRST_ADMIN_PASSWORD"):
        _production(
            tmp_path, FIRST_ADMIN_EMAIL="ops@example.com", FIRST_ADMIN_PASSWORD=SANDBOX_ADMIN_PASSWORD
        )
    ok = _production(
        tmp_path, FIRST_ADMIN_EMAIL="ops@example.com", FIRST_ADMIN_PASSWORD="a-real-long-password"
    )
    assert ok.secret("first_admin_password") == "a-real-long-password"


def test_production_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARDPORTAL_ENV", "production")
    monkeypatch.setenv("CARDPORTAL_HOME", str(tmp_path))
    for name, value in REAL.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    with pytest.raises(ConfigurationError, match="STRIPE_WEBHOOK_SECRET"):
        Settings()


def test_sandbox_fills_defaults(tmp_path: Path) -> None:
    settings = Settings(CARDPORTAL_HOME=str(tmp_path))  # type: ignore[call-arg]
    assert settings.env == "sandbox"
    assert settings.secret("network_api_key") == SANDBOX_NETWORK_API_KEY
    assert settings.first_admin_email
    assert settings.secret("first_admin_password") == SANDBOX_ADMIN_PASSWORD
    assert settings.secret("stripe_api_key") == SANDBOX_STRIPE_API_KEY
    assert settings.secret("stripe_webhook_secret") == SANDBOX_STRIPE_WEBHOOK_SECRET
    assert len(settings.secret("jwt_secret")) >= 32
    assert settings.home == tmp_path.resolve()
    assert settings.log_dir == tmp_path.resolve() / "logs"


def test_the_sandbox_jwt_secret_is_stable_per_home(tmp_path: Path) -> None:
    first = Settings(CARDPORTAL_HOME=str(tmp_path / "a"))  # type: ignore[call-arg]
    again = Settings(CARDPORTAL_HOME=str(tmp_path / "a"))  # type: ignore[call-arg]
    other = Settings(CARDPORTAL_HOME=str(tmp_path / "b"))  # type: ignore[call-arg]
    assert first.secret("jwt_secret") == again.secret("jwt_secret")
    assert first.secret("card_data_key") == again.secret("card_data_key")
    assert first.secret("jwt_secret") != other.secret("jwt_secret")
    kept = tmp_path / "a" / "secrets" / "jwt_secret"
    assert kept.read_text().strip() == first.secret("jwt_secret")
    assert kept.stat().st_mode & 0o077 == 0  # readable by its owner only


def test_an_explicit_jwt_secret_wins_in_the_sandbox(tmp_path: Path) -> None:
    settings = Settings(CARDPORTAL_HOME=str(tmp_path), JWT_SECRET="x" * 40)  # type: ignore[call-arg]
    assert settings.secret("jwt_secret") == "x" * 40


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://a.example", ["https://a.example"]),
        ("https://a.example, https://b.example", ["https://a.example", "https://b.example"]),
        ('["https://a.example"]', ["https://a.example"]),
        ("", []),
    ],
)
def test_list_settings_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", raw)
    monkeypatch.setenv("RATE_LIMIT_EXEMPT_IPS", raw)
    settings = Settings(CARDPORTAL_HOME=str(tmp_path))  # type: ignore[call-arg]
    assert settings.cors_origins == expected
    assert settings.rate_limit_exempt_ips == expected


def test_an_unknown_environment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CARDPORTAL_ENV"):
        Settings(CARDPORTAL_ENV="staging", CARDPORTAL_HOME=str(tmp_path))  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NETWORK_API_KEY", "k"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_1"),
        ("PII_HASH_SALT", "salt"),
        ("LOGIN_MAX_FAILURES", "1000"),
        ("LOGIN_LOCKOUT_SECONDS", "1"),
        ("CREDIT_COUNSELING_PHONE", None),  # the fictional sandbox number
        ("STAFF_IDLE_TIMEOUT_SECONDS", "3600"),  # PCI DSS 8.2.8: at most 15 minutes
        ("STAFF_ACCESS_TOKEN_TTL_SECONDS", "1200"),  # a staff token outliving the idle limit
    ],
)
def test_production_refuses_weak_settings_and_names_them(
    tmp_path: Path, name: str, value: str | None
) -> None:
    """Issue 21, finding 9: each of these was accepted in production. PCI DSS 8.3.4 asks for a
    lockout after at most 10 invalid attempts, for at least 30 minutes."""
    with pytest.raises(ConfigurationError, match=name):
        _production(tmp_path, **{name: value})


def test_staff_need_a_second_factor_in_production_only(tmp_path: Path) -> None:
    assert _production(tmp_path).staff_mfa_required is True
    assert Settings(CARDPORTAL_HOME=str(tmp_path)).staff_mfa_required is False  # type: ignore[call-arg]


def test_production_accepts_the_strict_lockout(tmp_path: Path) -> None:
    settings = _production(tmp_path, LOGIN_MAX_FAILURES="10", LOGIN_LOCKOUT_SECONDS="1800")
    assert (settings.login_max_failures, settings.login_lockout_seconds) == (10, 1800)


def test_a_first_admin_password_is_long_enough_in_production(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="FIRST_ADMIN_PASSWORD"):
        _production(tmp_path, FIRST_ADMIN_EMAIL="ops@example.com", FIRST_ADMIN_PASSWORD="Sh0rt!")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CREDIT_BUREAU", None),  # the default: the sandbox bureau
        ("CREDIT_BUREAU", "sandbox"),
        ("BUREAU_URL", None),
        ("BUREAU_URL", "http://bureau.example.com/api"),  # names, dates of birth in clear text
        ("BUREAU_API_KEY", "changeme"),
    ],
)
def test_production_refuses_to_start_without_a_real_bureau_and_names_the_setting(
    tmp_path: Path, name: str, value: str | None
) -> None:
    """Issue 21, finding 1: production scored applicants with the sandbox bureau, where a
    ``+score850`` email chose the score. It refuses the sandbox bureau, and an incomplete one."""
    with pytest.raises(ConfigurationError, match=name):
        _production(tmp_path, **{name: value})


def test_production_with_nothing_of_a_bureau_names_credit_bureau(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="CREDIT_BUREAU must be 'http'"):
        _production(tmp_path, CREDIT_BUREAU=None, BUREAU_URL=None, BUREAU_API_KEY=None)


def test_the_bureau_settings(tmp_path: Path) -> None:
    settings = _production(tmp_path, BUREAU_URL="http://127.0.0.1:9099")  # loopback: plain http
    assert (settings.credit_bureau, str(settings.bureau_url)) == ("http", "http://127.0.0.1:9099/")
    assert settings.secret("bureau_api_key") == REAL["BUREAU_API_KEY"]
    assert settings.bureau_timeout_seconds == 5.0
    sandbox = Settings(CARDPORTAL_HOME=str(tmp_path))  # type: ignore[call-arg]
    assert (sandbox.credit_bureau, sandbox.bureau_url) == ("sandbox", None)
    # A sandbox may use an HTTP bureau (a bureau's test environment), but a whole one.
    with pytest.raises(ConfigurationError, match="BUREAU_URL"):
        Settings(CARDPORTAL_HOME=str(tmp_path), CREDIT_BUREAU="http")  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="BUREAU_API_KEY"):
        Settings(  # type: ignore[call-arg]
            CARDPORTAL_HOME=str(tmp_path), CREDIT_BUREAU="http", BUREAU_URL="https://bureau.example.com"
        )


@pytest.mark.parametrize(
    "name", ["WAREHOUSE_READER_URL", "DASHBOARDS_WAREHOUSE_URL", "DASHBOARDS_DAGSTER_URL"]
)
def test_production_refuses_to_start_without_the_readers_logins_and_names_them(
    tmp_path: Path, name: str
) -> None:
    """Issue 21, finding 3: the API's report reads and the dashboards connected as the
    warehouse's owner. Production needs each reader's own login, and says which is missing."""
    with pytest.raises(ConfigurationError, match=f"{name} must be set"):
        _production(tmp_path, **{name: None})
    with pytest.raises(ConfigurationError, match=f"{name} must be set"):
        _production(tmp_path, **{name: "  "})


@pytest.mark.parametrize(
    "name", ["WAREHOUSE_READER_URL", "DASHBOARDS_WAREHOUSE_URL", "DASHBOARDS_DAGSTER_URL"]
)
@pytest.mark.parametrize("owner", ["DATABASE_URL", "WAREHOUSE_URL", "DAGSTER_DATABASE_URL"])
def test_production_refuses_a_reader_that_logs_in_as_an_owner(tmp_path: Path, name: str, owner: str) -> None:
    owners = {owner: "postgresql://platform_owner:owner-secret@db.example.com/anything"}
    if owner != "WAREHOUSE_URL":
        owners["WAREHOUSE_URL"] = None  # type: ignore[assignment]
    with pytest.raises(ConfigurationError, match=f"{name} logs in as platform_owner"):
        _production(
            tmp_path,
            **owners,
            **{name: "postgresql://platform_owner:owner-secret@db.example.com/warehouse"},
        )


def test_production_takes_the_readers_logins(tmp_path: Path) -> None:
    settings = _production(tmp_path)
    assert settings.warehouse_reader_url == REAL_SETTINGS["WAREHOUSE_READER_URL"]
    assert settings.dashboards_warehouse_url == REAL_SETTINGS["DASHBOARDS_WAREHOUSE_URL"]
    assert settings.dashboards_dagster_url == REAL_SETTINGS["DASHBOARDS_DAGSTER_URL"]
    assert not (tmp_path / "secrets").exists()  # no sandbox password made in production
