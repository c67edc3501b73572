"""Sign-in through the platform's API: analysts, finance and admins get in; customers do not.

- ``POST /v1/auth/token`` (password grant) gives an access and a refresh token;
  ``GET /v1/me`` with the access token says who it is and with which role.
- The tokens live in ``st.session_state`` only (one browser session), never on disk.
- The access token is renewed with the refresh token a minute after it was issued (and before
  it expires), on the first page run after that: each renewal tells the API the staff member is
  active, so the API's 15-minute idle timeout (PCI DSS 8.2.8) ends a session only after 14 to 15
  idle minutes. When renewal fails (idle, revoked), the person signs in again.
- A staff member with a second factor (TOTP) is asked for the code when the API answers
  ``mfa_required``; in production a staff member without one gets an enrolment-only token, and
  the dashboards show only the enrolment page (secret, ``otpauth://`` URI, confirm with a code).
- Every call carries the browser's IP in ``X-Forwarded-For`` (``st.context.ip_address``; none for
  a browser on this host), so the API's audit trail and per-IP limits see the staff member, not
  the dashboards' host. The API honours it only from its trusted proxies (uvicorn's
  ``FORWARDED_ALLOW_IPS``, 127.0.0.1 by default): a dashboards host elsewhere must be listed.
- Sign-out revokes the refresh token (``POST /v1/auth/logout``) and drops the tokens.

The API's address: ``CARDPORTAL_API_URL`` (``cardportal up`` sets it), else the
platform's ``API_HOST``/``API_PORT`` settings.
"""

from __future__ import annotations

import ipaddress
import os
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import streamlit as st

STAFF_ROLES = frozenset({"analyst", "finance", "admin"})
SESSION_KEY = "cardportal_auth"
# Set once the API said the account has a second factor: the sign-in form asks for the code.
CODE_KEY = "sign_in_needs_code"
ENROLMENT_KEY = "mfa_enrolment"
TIMEOUT_SECONDS = 10.0
# Renew the access token this long after it was issued: the renewal is the activity that the
# API's staff idle timeout counts (api/auth/service.py), so a minute is the timeout's precision.
RENEW_AFTER_SECONDS = 60
MFA_ENROLMENT_SCOPE = "mfa_enrolment"
REFUSED_CUSTOMER = (
    "The dashboards are for analysts, finance and admins; this is a customer account. "
    "Customers see their card in the web app."
)


@dataclass(frozen=True)
class Principal:
    user_id: str
    email: str
    full_name: str
    role: str
    access_token: str
    refresh_token: str
    expires_at: float  # time.monotonic() when the access token expires
    renew_at: float = 0.0  # time.monotonic() from when the access token is renewed
    # Production staff without a second factor: the token may only enrol one (API.md).
    enrolment_only: bool = False


def api_url() -> str:
    """The API's base URL, without a trailing slash."""
    explicit = os.environ.get("CARDPORTAL_API_URL")
    if explicit:
        return explicit.rstrip("/")
    from cardportal.settings import get_settings

    settings = get_settings()
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host
    return f"http://{host}:{settings.api_port}"


class SignInRefused(Exception):
    """A message for the person signing in (wrong password, a customer, the API not answering)."""


class CodeRequired(SignInRefused):
    """The account has a second factor: ask for the one-time code."""


class SessionIdle(SignInRefused):
    """The API ended the staff session after 15 idle minutes (PCI DSS 8.2.8)."""


def client_ip() -> str | None:
    """The browser's IP address (None for a browser on this host, or outside a page run)."""
    try:
        ip = st.context.ip_address
    except Exception:  # no script run context (a thread, a test calling helpers directly)
        return None
    try:  # only an address goes into a header (AppTest hands out a stand-in object)
        return str(ipaddress.ip_address(ip)) if isinstance(ip, str) else None
    except ValueError:
        return None


def client(ip: str | None = None) -> httpx.Client:
    """An HTTP client for the API; ``ip`` (the browser's) travels in ``X-Forwarded-For``."""
    headers = {"X-Forwarded-For": ip} if ip else {}
    return httpx.Client(base_url=api_url(), timeout=TIMEOUT_SECONDS, headers=headers)


def _problem_detail(response: httpx.Response) -> str:
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail") or body.get("title") or body.get("code") or response.status_code)


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _token(client: httpx.Client, form: dict[str, str]) -> dict[str, Any]:
    response = client.post("/v1/auth/token", data=form)
    if response.status_code == 400:
        problem = _problem(response)
        if problem.get("code") == "mfa_required":
            raise CodeRequired("Enter the one-time code from your authenticator app.")
        if problem.get("reason") == "session_idle":
            raise SessionIdle("Your session was idle for 15 minutes: sign in again.")
        if form.get("otp"):
            raise SignInRefused("Wrong email, password or one-time code.")
        raise SignInRefused("Wrong email or password.")
    if response.status_code != 200:
        raise SignInRefused(f"The API refused the sign-in: {_problem_detail(response)}")
    body: dict[str, Any] = response.json()
    return body


def _principal(client: httpx.Client, tokens: dict[str, Any]) -> Principal:
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    if me.status_code != 200:
        raise SignInRefused(f"The API did not say who this is: {_problem_detail(me)}")
    user: dict[str, Any] = me.json()
    expires_in = int(tokens.get("expires_in", 0))
    now = time.monotonic()
    return Principal(
        user_id=str(user["id"]),
        email=str(user["email"]),
        full_name=str(user.get("full_name") or user["email"]),
        role=str(user["role"]),
        access_token=str(tokens["access_token"]),
        refresh_token=str(tokens["refresh_token"]),
        # Renew a little early, so a page never runs with a token about to expire.
        expires_at=now + max(0, expires_in - 30),
        renew_at=now + min(RENEW_AFTER_SECONDS, max(0, expires_in - 30)),
        enrolment_only=_scope(str(tokens["access_token"])) == MFA_ENROLMENT_SCOPE,
    )


def _scope(access_token: str) -> str | None:
    """The token's scope claim, read to choose what to show (the API enforces it, not this)."""
    try:
        claims = jwt.decode(access_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    scope = claims.get("scope")
    return scope if isinstance(scope, str) else None


def _revoke(client: httpx.Client, refresh_token: str) -> None:
    try:
        client.post("/v1/auth/logout", json={"refresh_token": refresh_token})
    except httpx.HTTPError:
        pass  # signing out locally matters most; the token family expires by itself


def sign_in(email: str, password: str, otp: str | None = None, *, ip: str | None = None) -> Principal:
    """A staff member's principal, or :class:`SignInRefused` with the reason to show
    (:class:`CodeRequired` when the account has a second factor and ``otp`` is missing)."""
    if not email or not password:
        raise SignInRefused("Enter your email and password.")
    form = {"grant_type": "password", "username": email, "password": password}
    if otp:
        form["otp"] = otp
    try:
        with client(ip) as api:
            tokens = _token(api, form)
            principal = _principal(api, tokens)
            if principal.role not in STAFF_ROLES:
                _revoke(api, principal.refresh_token)
                raise SignInRefused(REFUSED_CUSTOMER)
            return principal
    except httpx.HTTPError as exc:
        raise SignInRefused(f"The API at {api_url()} does not answer ({exc.__class__.__name__}).") from exc


def renewal_due(principal: Principal) -> bool:
    return time.monotonic() >= min(principal.expires_at, principal.renew_at or principal.expires_at)


def renewed(principal: Principal, *, ip: str | None = None) -> Principal:
    """The principal with a fresh access token when due; :class:`SignInRefused` with the reason
    when the session is over (idle, revoked, the API gone)."""
    if not renewal_due(principal):
        return principal
    try:
        with client(ip) as api:
            tokens = _token(api, {"grant_type": "refresh_token", "refresh_token": principal.refresh_token})
            fresh = _principal(api, tokens)
    except httpx.HTTPError as exc:
        raise SignInRefused("Your session ended: sign in again.") from exc
    except CodeRequired as exc:
        raise SignInRefused("Your session ended: sign in again.") from exc
    if fresh.role not in STAFF_ROLES:
        raise SignInRefused("Your session ended: sign in again.")
    return fresh


def refreshed(principal: Principal) -> Principal | None:
    """The principal with a fresh access token when due; None when the session is over."""
    try:
        return renewed(principal)
    except SignInRefused:
        return None


def current() -> Principal | None:
    """Who is signed in to this browser session (renewing the access token when due)."""
    principal = st.session_state.get(SESSION_KEY)
    if not isinstance(principal, Principal):
        return None
    if not renewal_due(principal):
        return principal  # (the browser's address is looked up only for a renewal's request)
    try:
        fresh = renewed(principal, ip=client_ip())
    except SignInRefused as ended:
        st.session_state.pop(SESSION_KEY, None)
        idle = isinstance(ended, SessionIdle)
        st.session_state["sign_in_message"] = str(ended) if idle else "Your session ended: sign in again."
        return None
    st.session_state[SESSION_KEY] = fresh
    return fresh


def signed_in() -> Principal:
    """The principal of this page run (``app.py`` shows pages only to someone signed in)."""
    principal = st.session_state.get(SESSION_KEY)
    if not isinstance(principal, Principal):
        raise SignInRefused("Not signed in.")
    return principal


def sign_out() -> None:
    principal = st.session_state.pop(SESSION_KEY, None)
    st.session_state.pop(ENROLMENT_KEY, None)
    if isinstance(principal, Principal):
        try:
            with client(client_ip()) as api:
                _revoke(api, principal.refresh_token)
        except httpx.HTTPError:
            pass
    st.session_state["sign_in_message"] = "Signed out."


def sign_in_page() -> None:
    """The page shown to anyone not signed in."""
    st.title("Sign in")
    st.caption(
        "cardportal dashboards, for analysts, finance and admins. Sign in with your cardportal "
        f"account (the API at {api_url()} checks it)."
    )
    message = st.session_state.pop("sign_in_message", None)
    if message:
        st.info(message)
    needs_code = bool(st.session_state.get(CODE_KEY))
    with st.form("sign_in", clear_on_submit=False):
        email = st.text_input("Email", key="sign_in_email", autocomplete="username")
        password = st.text_input("Password", type="password", key="sign_in_password")
        code = ""
        if needs_code:
            code = st.text_input(
                "One-time code",
                key="sign_in_code",
                max_chars=6,
                autocomplete="one-time-code",
                help="The 6-digit code your authenticator app shows for cardportal.",
            )
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            principal = sign_in(email.strip(), password, code.strip() or None, ip=client_ip())
        except CodeRequired as asked:
            st.session_state[CODE_KEY] = True
            st.session_state["sign_in_message"] = str(asked)
            st.rerun()
        except SignInRefused as refused:
            st.error(str(refused))
            return
        st.session_state[SESSION_KEY] = principal
        for key in ("sign_in_password", "sign_in_code", CODE_KEY):
            st.session_state.pop(key, None)
        st.rerun()


def enrol_page() -> None:
    """The only page for a staff member whose token may only enrol a second factor (production)."""
    principal = signed_in()
    st.title("Set up your second factor")
    st.write(
        f"Your role ({principal.role}) needs a second factor to use the dashboards: a 6-digit code "
        "from an authenticator app (any TOTP app: Google Authenticator, 1Password, Authy, …)."
    )
    enrolment = st.session_state.get(ENROLMENT_KEY)
    if not isinstance(enrolment, dict):
        if st.button("Start", key="mfa_start", type="primary"):
            try:
                with client(client_ip()) as api:
                    response = api.post("/v1/me/mfa/totp", json={}, headers=_bearer(principal))
            except httpx.HTTPError as exc:
                st.error(f"The API at {api_url()} does not answer ({exc.__class__.__name__}).")
                return
            if response.status_code != 201:
                st.error(f"The API refused: {_problem_detail(response)}")
                return
            st.session_state[ENROLMENT_KEY] = response.json()
            st.rerun()
        return
    st.write("Add this key to your authenticator app (or open the link on your phone), then enter a code.")
    st.code(str(enrolment["secret"]), language=None)
    st.code(str(enrolment["otpauth_uri"]), language=None)
    with st.form("mfa_confirm"):
        code = st.text_input("One-time code", key="mfa_code", max_chars=6, autocomplete="one-time-code")
        confirmed = st.form_submit_button("Confirm", type="primary")
    if confirmed:
        try:
            with client(client_ip()) as api:
                response = api.post(
                    "/v1/me/mfa/totp/confirm", json={"code": code.strip()}, headers=_bearer(principal)
                )
        except httpx.HTTPError as exc:
            st.error(f"The API at {api_url()} does not answer ({exc.__class__.__name__}).")
            return
        if response.status_code != 200:
            st.error(f"Not confirmed: {_problem_detail(response)}")
            return
        # Confirming ends the session opened with the password alone: sign in again with a code.
        st.session_state.pop(SESSION_KEY, None)
        st.session_state.pop(ENROLMENT_KEY, None)
        st.session_state[CODE_KEY] = True
        st.session_state["sign_in_message"] = "Second factor set up: sign in again with a code."
        st.rerun()


def _bearer(principal: Principal) -> dict[str, str]:
    return {"Authorization": f"Bearer {principal.access_token}"}


def sidebar(principal: Principal) -> None:
    with st.sidebar:
        st.caption(f"Signed in as **{principal.email}** ({principal.role})")
        st.button("Sign out", key="sign_out", on_click=sign_out, icon=":material/logout:")
