"""Settings for every part of the platform, read once from the environment.

In sandbox mode every secret has a safe default (a fixed sandbox key, or a
random key kept under ``CARDPORTAL_HOME``); production mode refuses to start
with a default or missing secret and names the variable to set.
"""

from __future__ import annotations

import json
import secrets
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SANDBOX_NETWORK_API_KEY = "sandbox-network-key-4242"
SANDBOX_ADMIN_EMAIL = "admin@cardportal.local"
SANDBOX_ADMIN_PASSWORD = "sandbox-admin-password"
SANDBOX_STRIPE_API_KEY = "sk_test_cardportal_sandbox"
SANDBOX_STRIPE_WEBHOOK_SECRET = "whsec_cardportal_sandbox"
# 12 CFR 1026.7(b)(12)(i)(E): the toll-free number for credit counseling on every statement.
# The sandbox's is a fictional 555-01xx number; production sets CREDIT_COUNSELING_PHONE.
SANDBOX_CREDIT_COUNSELING_PHONE = "1-800-555-0199"

# Values that must never protect a production deployment.
_PLACEHOLDERS = {
    SANDBOX_NETWORK_API_KEY,
    SANDBOX_ADMIN_PASSWORD,
    SANDBOX_STRIPE_API_KEY,
    SANDBOX_STRIPE_WEBHOOK_SECRET,
    "changeme",
    "change-me",
    "secret",
    "password",
}
# Where a production BUREAU_URL may be plain http: this host only.
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


class ConfigurationError(RuntimeError):
    """A setting is missing or unsafe; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    env: Literal["sandbox", "production"] = Field("sandbox", alias="CARDPORTAL_ENV")
    home: Path = Field(Path(".cardportal"), alias="CARDPORTAL_HOME")

    database_url: str | None = Field(None, alias="DATABASE_URL")
    warehouse_url: str | None = Field(None, alias="WAREHOUSE_URL")
    dagster_database_url: str | None = Field(None, alias="DAGSTER_DATABASE_URL")
    # The readers' own logins (issue 21, finding 3; cardportal/warehouse.py): the API's report
    # reads, and the dashboards on the warehouse and on Dagster's storage. Never an owner's
    # login; in sandbox, made by the platform with passwords kept in CARDPORTAL_HOME.
    warehouse_reader_url: str | None = Field(None, alias="WAREHOUSE_READER_URL")
    dashboards_warehouse_url: str | None = Field(None, alias="DASHBOARDS_WAREHOUSE_URL")
    dashboards_dagster_url: str | None = Field(None, alias="DASHBOARDS_DAGSTER_URL")
    db_pool_size: int = Field(10, alias="DB_POOL_SIZE", ge=1)
    db_max_overflow: int = Field(10, alias="DB_MAX_OVERFLOW", ge=0)

    network_api_key: SecretStr | None = Field(None, alias="NETWORK_API_KEY")
    first_admin_email: str | None = Field(None, alias="FIRST_ADMIN_EMAIL")
    first_admin_password: SecretStr | None = Field(None, alias="FIRST_ADMIN_PASSWORD")

    stripe_api_key: SecretStr | None = Field(None, alias="STRIPE_API_KEY")
    stripe_api_base: str | None = Field(None, alias="STRIPE_API_BASE")
    stripe_webhook_secret: SecretStr | None = Field(None, alias="STRIPE_WEBHOOK_SECRET")

    jwt_secret: SecretStr | None = Field(None, alias="JWT_SECRET")
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = Field("HS256", alias="JWT_ALGORITHM")
    jwt_issuer: str = Field("cardportal", alias="JWT_ISSUER")
    jwt_audience: str = Field("cardportal-api", alias="JWT_AUDIENCE")
    access_token_ttl_seconds: int = Field(15 * 60, alias="ACCESS_TOKEN_TTL_SECONDS", gt=0)
    refresh_token_ttl_days: int = Field(30, alias="REFRESH_TOKEN_TTL_DAYS", gt=0)
    # Staff sessions end after this long without activity (PCI DSS 8.2.8: at most 15 minutes).
    # Activity is a refresh: staff access tokens live STAFF_ACCESS_TOKEN_TTL_SECONDS at most, and
    # a refresh more than STAFF_IDLE_TIMEOUT_SECONDS after the family's last sign-in or refresh is
    # refused (api/auth/service.py), so no request pays a database write to be counted.
    staff_access_token_ttl_seconds: int = Field(5 * 60, alias="STAFF_ACCESS_TOKEN_TTL_SECONDS", gt=0)
    staff_idle_timeout_seconds: int = Field(15 * 60, alias="STAFF_IDLE_TIMEOUT_SECONDS", gt=0)
    # Key for card numbers at rest (AES-256-GCM) and their look-up HMAC, base64 or hex.
    card_data_key: SecretStr | None = Field(None, alias="CARD_DATA_KEY")

    login_max_failures: int = Field(10, alias="LOGIN_MAX_FAILURES", gt=0)
    login_lockout_seconds: int = Field(30 * 60, alias="LOGIN_LOCKOUT_SECONDS", gt=0)

    # Rate limits in the `limits` library's notation ("100/minute;1000/hour"), counted in the
    # app's PostgreSQL by default (`database://`, shared by every API process), in Redis with
    # `redis://host:port/db`, or per process with `memory://` (api/gateway/ratelimit.py).
    rate_limit_storage_uri: str = Field("database://", alias="RATE_LIMIT_STORAGE_URI")
    rate_limit_per_ip: str = Field("1200/minute", alias="RATE_LIMIT_PER_IP")
    rate_limit_per_user: str = Field("600/minute", alias="RATE_LIMIT_PER_USER")
    # Password grants and registrations cost an argon2 hash each: a tight budget per IP,
    # checked by the gateway before any of that work (issue 21, finding 8).
    rate_limit_credentials_per_ip: str = Field("10/minute", alias="RATE_LIMIT_CREDENTIALS_PER_IP")
    # Callers exempt from the per-IP limits, the credential one too (the card network, trusted proxies).
    rate_limit_exempt_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="RATE_LIMIT_EXEMPT_IPS"
    )

    max_body_bytes: int = Field(1024 * 1024, alias="MAX_BODY_BYTES", gt=0)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="CORS_ORIGINS")
    idempotency_ttl_hours: int = Field(24, alias="IDEMPOTENCY_TTL_HOURS", ge=24)

    # How long a process trusts its cached copy of the shared sandbox clock when nothing tells
    # it of moves (the API listens for them: api.clock; 0 reads it on every call).
    clock_cache_seconds: float = Field(1.0, alias="CLOCK_CACHE_SECONDS", ge=0)
    # The data platform: the salt of the warehouse's customer keys (a random key kept
    # under CARDPORTAL_HOME in sandbox), the first business day partitioned, and how
    # far past real time the sandbox clock may take the partitions.
    pii_hash_salt: SecretStr | None = Field(None, alias="PII_HASH_SALT")
    pipelines_start_date: date = Field(date(2026, 1, 1), alias="PIPELINES_START_DATE")
    pipelines_sandbox_days_ahead: int = Field(400, alias="PIPELINES_SANDBOX_DAYS_AHEAD", ge=0)
    dagster_port: int = Field(3000, alias="DAGSTER_PORT")
    dashboards_port: int = Field(8501, alias="DASHBOARDS_PORT")
    # dbt's docs and Great Expectations' Data Docs, served by `cardportal up` (cardportal/docs.py).
    docs_port: int = Field(8503, alias="DOCS_PORT")

    # The toll-free number printed in the statement's minimum payment warning, where the
    # cardholder reaches the issuer for credit counseling information (12 CFR 1026.7(b)(12)(iv)).
    credit_counseling_phone: str = Field(SANDBOX_CREDIT_COUNSELING_PHONE, alias="CREDIT_COUNSELING_PHONE")

    # Where underwriting gets its scores (api/applications/bureau.py, docs/credit-bureau.md):
    # `sandbox` (from the applicant's identity, `+score<NNN>` emails choose; refused in
    # production) or `http` (a bureau at BUREAU_URL, with the bearer BUREAU_API_KEY).
    credit_bureau: Literal["sandbox", "http"] = Field("sandbox", alias="CREDIT_BUREAU")
    bureau_url: AnyHttpUrl | None = Field(None, alias="BUREAU_URL")
    bureau_api_key: SecretStr | None = Field(None, alias="BUREAU_API_KEY")
    # Each of connect, read, write and pool; the applicant waits this long at most, for each.
    bureau_timeout_seconds: float = Field(5.0, alias="BUREAU_TIMEOUT_SECONDS", gt=0, le=60)

    # Alerts of the data platform (cardportal/notify.py): e-mail through SMTP_URL
    # (smtp://[user:password@]host[:port][?starttls=true] or smtps://…) from ALERT_EMAIL_FROM to
    # ALERT_EMAIL_TO (comma-separated), a JSON POST to ALERT_WEBHOOK_URL; in sandbox always the
    # local outbox, CARDPORTAL_HOME/outbox/alerts.jsonl.
    smtp_url: SecretStr | None = Field(None, alias="SMTP_URL")
    alert_email_from: str = Field("cardportal-alerts@localhost", alias="ALERT_EMAIL_FROM")
    alert_email_to: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="ALERT_EMAIL_TO")
    alert_webhook_url: AnyHttpUrl | None = Field(None, alias="ALERT_WEBHOOK_URL")
    alert_timeout_seconds: float = Field(10.0, alias="ALERT_TIMEOUT_SECONDS", gt=0, le=60)

    api_host: str = Field("127.0.0.1", alias="API_HOST")
    # Sandbox mode serves fixed, public secrets and a movable clock: it listens on loopback
    # only, unless this says otherwise (a sandbox shared on a private network, on purpose).
    sandbox_listen_public: bool = Field(False, alias="SANDBOX_LISTEN_PUBLIC")
    api_port: int = Field(8000, alias="API_PORT")
    # Chosen by measurement (bench `authorize` tries 1 and 2 uvicorn workers): on the
    # 2-core machine 2 workers gave 107 against 73 authorizations/s (1.5x).
    api_workers: int = Field(2, alias="API_WORKERS", ge=1)

    @field_validator("cors_origins", "rate_limit_exempt_ips", "alert_email_to", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        # From the environment: "https://a.example,https://b.example", or a JSON list.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        if self.env == "production":
            self._refuse_unsafe_secrets()
        else:
            self._fill_sandbox_defaults()
        self._refuse_incomplete_bureau()
        if self.smtp_url is not None and not self.alert_email_to:
            raise ConfigurationError("ALERT_EMAIL_TO must name a recipient when SMTP_URL is set")
        if self.env == "production":
            self._refuse_owner_readers()
        return self

    def _refuse_incomplete_bureau(self) -> None:
        # Issue 21, finding 1: production scored applicants with the sandbox bureau, so an
        # applicant chose their score with a `+score850` email.
        if self.env == "production" and self.credit_bureau != "http":
            raise ConfigurationError(
                "CREDIT_BUREAU must be 'http' (a real bureau at BUREAU_URL) when "
                "CARDPORTAL_ENV=production; the sandbox bureau lets applicants choose their score"
            )
        if self.credit_bureau != "http":
            return
        if self.bureau_url is None:
            raise ConfigurationError("BUREAU_URL must be set when CREDIT_BUREAU=http")
        if self.bureau_api_key is None or not self.bureau_api_key.get_secret_value().strip():
            raise ConfigurationError("BUREAU_API_KEY must be set when CREDIT_BUREAU=http")
        if self.env == "production" and self.bureau_api_key.get_secret_value() in _PLACEHOLDERS:
            raise ConfigurationError(
                "BUREAU_API_KEY holds a placeholder; set the bureau's key when CARDPORTAL_ENV=production"
            )
        # The applicant's name, birth date and email, and the key, never cross a network in
        # clear text.
        if (
            self.env == "production"
            and self.bureau_url.scheme != "https"
            and self.bureau_url.host not in _LOOPBACK_HOSTS
        ):
            raise ConfigurationError(
                "BUREAU_URL must be https:// when CARDPORTAL_ENV=production (http only on loopback)"
            )

    def _refuse_unsafe_secrets(self) -> None:
        required: dict[str, SecretStr | None] = {
            "JWT_SECRET": self.jwt_secret,
            "NETWORK_API_KEY": self.network_api_key,
            "CARD_DATA_KEY": self.card_data_key,
            "STRIPE_API_KEY": self.stripe_api_key,
            "STRIPE_WEBHOOK_SECRET": self.stripe_webhook_secret,
            # Checked here, at start, not only when the pipelines first run.
            "PII_HASH_SALT": self.pii_hash_salt,
        }
        if self.first_admin_email:
            required["FIRST_ADMIN_PASSWORD"] = self.first_admin_password
        for name, value in required.items():
            if value is None or not value.get_secret_value().strip():
                raise ConfigurationError(f"{name} must be set when CARDPORTAL_ENV=production")
            if value.get_secret_value() in _PLACEHOLDERS:
                raise ConfigurationError(
                    f"{name} holds a sandbox default or placeholder; set a real secret "
                    "when CARDPORTAL_ENV=production"
                )
        if len(self.jwt_secret.get_secret_value()) < 32:  # type: ignore[union-attr]
            raise ConfigurationError("JWT_SECRET must be at least 32 characters in production")
        # Keys a caller presents, and the salt of the warehouse's customer keys: long enough
        # that guessing them is hopeless (a one-character network key was accepted before).
        minimum_lengths: dict[str, tuple[SecretStr | None, int]] = {
            "NETWORK_API_KEY": (self.network_api_key, 32),
            "STRIPE_WEBHOOK_SECRET": (self.stripe_webhook_secret, 32),
            "PII_HASH_SALT": (self.pii_hash_salt, 32),
        }
        if self.first_admin_email:
            minimum_lengths["FIRST_ADMIN_PASSWORD"] = (self.first_admin_password, 12)
        for name, (secret, length) in minimum_lengths.items():
            if len(secret.get_secret_value() if secret else "") < length:
                raise ConfigurationError(f"{name} must be at least {length} characters in production")
        # PCI DSS 8.3.4: lock out after at most 10 invalid attempts, for at least 30 minutes.
        if self.login_max_failures > 10:
            raise ConfigurationError("LOGIN_MAX_FAILURES must be at most 10 in production (PCI DSS 8.3.4)")
        if self.login_lockout_seconds < 30 * 60:
            raise ConfigurationError(
                "LOGIN_LOCKOUT_SECONDS must be at least 1800 (30 minutes) in production (PCI DSS 8.3.4)"
            )
        # PCI DSS 8.2.8: an idle staff session re-authenticates after at most 15 minutes; an
        # access token outliving the idle limit would outlive the session it belongs to.
        if self.staff_idle_timeout_seconds > 15 * 60:
            raise ConfigurationError(
                "STAFF_IDLE_TIMEOUT_SECONDS must be at most 900 (15 minutes) in production (PCI DSS 8.2.8)"
            )
        if self.staff_access_token_ttl_seconds > self.staff_idle_timeout_seconds:
            raise ConfigurationError(
                "STAFF_ACCESS_TOKEN_TTL_SECONDS must not exceed STAFF_IDLE_TIMEOUT_SECONDS in production"
            )
        if self.credit_counseling_phone == SANDBOX_CREDIT_COUNSELING_PHONE:
            raise ConfigurationError(
                "CREDIT_COUNSELING_PHONE must be the issuer's own toll-free number in production "
                "(12 CFR 1026.7(b)(12)(iv)); the default is a fictional sandbox number"
            )

    def _refuse_owner_readers(self) -> None:
        # Issue 21, finding 3: the readers connected as the warehouse's owner and only set a
        # role, which `SET ROLE NONE` undid. Each reader logs in as a role of its own.
        readers = {
            "WAREHOUSE_READER_URL": self.warehouse_reader_url,
            "DASHBOARDS_WAREHOUSE_URL": self.dashboards_warehouse_url,
            "DASHBOARDS_DAGSTER_URL": self.dashboards_dagster_url,
        }
        owners = {
            _url_user(url)
            for url in (self.database_url, self.warehouse_url, self.dagster_database_url)
            if url
        } - {None}
        for name, url in readers.items():
            if not url or not url.strip():
                raise ConfigurationError(
                    f"{name} must be set when CARDPORTAL_ENV=production: a login of its own that "
                    "may only read (README, production), never the owner's"
                )
            user = _url_user(url)
            if user in owners:
                raise ConfigurationError(
                    f"{name} logs in as {user}, an owner's login (DATABASE_URL, WAREHOUSE_URL or "
                    "DAGSTER_DATABASE_URL); give the readers a login of their own"
                )

    def sandbox_login_password(self, login: str) -> str:
        """A reading login's password in sandbox: random, kept in the home (like JWT_SECRET's)."""
        return _home_secret(self.home, f"{login}_password")

    def _fill_sandbox_defaults(self) -> None:
        if self.jwt_secret is None:
            self.jwt_secret = SecretStr(_home_secret(self.home, "jwt_secret"))
        if self.card_data_key is None:
            self.card_data_key = SecretStr(_home_secret(self.home, "card_data_key"))
        if self.pii_hash_salt is None:
            self.pii_hash_salt = SecretStr(_home_secret(self.home, "pii_hash_salt"))
        if self.network_api_key is None:
            self.network_api_key = SecretStr(SANDBOX_NETWORK_API_KEY)
        if self.first_admin_email is None:
            self.first_admin_email = SANDBOX_ADMIN_EMAIL
        if self.first_admin_password is None:
            self.first_admin_password = SecretStr(SANDBOX_ADMIN_PASSWORD)
        if self.stripe_api_key is None:
            self.stripe_api_key = SecretStr(SANDBOX_STRIPE_API_KEY)
        if self.stripe_webhook_secret is None:
            self.stripe_webhook_secret = SecretStr(SANDBOX_STRIPE_WEBHOOK_SECRET)

    # Convenience accessors for values that are always set after validation.
    def secret(self, name: str) -> str:
        value = getattr(self, name)
        if value is None:
            raise ConfigurationError(f"{name.upper()} is not set")
        return str(value.get_secret_value())

    @property
    def staff_mfa_required(self) -> bool:
        """Staff (analyst, finance, admin) must use a second factor in production (API.md); the
        sandbox keeps it optional so that the demo and the tests sign in with a password."""
        return self.env == "production"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def pg_dir(self) -> Path:
        return self.home / "pg"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"


def _url_user(url: str) -> str | None:
    """The login a PostgreSQL URL names (None when it names none)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url.replace("postgres://", "postgresql://", 1)).username
    except Exception:
        return None


def _home_secret(home: Path, name: str) -> str:
    """A random key created once per home and kept there (sandbox only)."""
    folder = home / "secrets"
    path = folder / name
    if path.exists():
        return path.read_text().strip()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_hex(32)
    # O_EXCL: when two processes race, the loser reads the winner's key.
    try:
        with path.open("x") as handle:
            handle.write(value)
        path.chmod(0o600)
    except FileExistsError:
        return path.read_text().strip()
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
