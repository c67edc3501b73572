"""Sign-in through the platform's API: analysts, finance and admins get in; customers do not.

- ``POST /v1/auth/token`` (password grant) gives an access and a refresh token;
  ``GET /v1/me`` with the access token says who it is and with which role.
- The tokens live in ``st.session_state`` only (one browser session), never on disk.
- An expired access token is renewed with the refresh token; when that fails the
  person signs in again.
- Sign-out revokes the refresh token (``POST /v1/auth/logout``) and drops the tokens.

The API's address: ``CARDPORTAL_API_URL`` (``cardportal up`` sets it), else the
platform's ``API_HOST``/``API_PORT`` settings.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import httpx
import streamlit as st

STAFF_ROLES = frozenset({"analyst", "finance", "admin"})
SESSION_KEY = "cardportal_auth"
TIMEOUT_SECONDS = 10.0
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


def _problem_detail(response: httpx.Response) -> str:
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail") or body.get("title") or body.get("code") or response.status_code)


def _token(client: httpx.Client, form: dict[str, str]) -> dict[str, Any]:
    response = client.post("/v1/auth/token", data=form)
    if response.status_code == 400:
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
    return Principal(
        user_id=str(user["id"]),
        email=str(user["email"]),
        full_name=str(user.get("full_name") or user["email"]),
        role=str(user["role"]),
        access_token=str(tokens["access_token"]),
        refresh_token=str(tokens["refresh_token"]),
        # Renew a little early, so a page never runs with a token about to expire.
        expires_at=time.monotonic() + max(0, int(tokens.get("expires_in", 0)) - 30),
    )


def _revoke(client: httpx.Client, refresh_token: str) -> None:
    try:
        client.post("/v1/auth/logout", json={"refresh_token": refresh_token})
    except httpx.HTTPError:
        pass  # signing out locally matters most; the token family expires by itself


def sign_in(email: str, password: str) -> Principal:
    """A staff member's principal, or :class:`SignInRefused` with the reason to show."""
    if not email or not password:
        raise SignInRefused("Enter your email and password.")
    try:
        with httpx.Client(base_url=api_url(), timeout=TIMEOUT_SECONDS) as client:
            tokens = _token(client, {"grant_type": "password", "username": email, "password": password})
            principal = _principal(client, tokens)
            if principal.role not in STAFF_ROLES:
                _revoke(client, principal.refresh_token)
                raise SignInRefused(REFUSED_CUSTOMER)
            return principal
    except httpx.HTTPError as exc:
        raise SignInRefused(f"The API at {api_url()} does not answer ({exc.__class__.__name__}).") from exc


def refreshed(principal: Principal) -> Principal | None:
    """The principal with a fresh access token when it expired; None when the session is over."""
    if time.monotonic() < principal.expires_at:
        return principal
    try:
        with httpx.Client(base_url=api_url(), timeout=TIMEOUT_SECONDS) as client:
            tokens = _token(client, {"grant_type": "refresh_token", "refresh_token": principal.refresh_token})
            renewed = _principal(client, tokens)
    except (SignInRefused, httpx.HTTPError):
        return None
    return renewed if renewed.role in STAFF_ROLES else None


def current() -> Principal | None:
    """Who is signed in to this browser session (renewing the access token when due)."""
    principal = st.session_state.get(SESSION_KEY)
    if not isinstance(principal, Principal):
        return None
    renewed = refreshed(principal)
    if renewed is None:
        st.session_state.pop(SESSION_KEY, None)
        st.session_state["sign_in_message"] = "Your session ended: sign in again."
        return None
    st.session_state[SESSION_KEY] = renewed
    return renewed


def sign_out() -> None:
    principal = st.session_state.pop(SESSION_KEY, None)
    if isinstance(principal, Principal):
        try:
            with httpx.Client(base_url=api_url(), timeout=TIMEOUT_SECONDS) as client:
                _revoke(client, principal.refresh_token)
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
    with st.form("sign_in", clear_on_submit=False):
        email = st.text_input("Email", key="sign_in_email", autocomplete="username")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            principal = sign_in(email.strip(), password)
        except SignInRefused as refused:
            st.error(str(refused))
            return
        st.session_state[SESSION_KEY] = principal
        st.session_state.pop("sign_in_password", None)
        st.rerun()


def sidebar(principal: Principal) -> None:
    with st.sidebar:
        st.caption(f"Signed in as **{principal.email}** ({principal.role})")
        st.button("Sign out", key="sign_out", on_click=sign_out, icon=":material/logout:")
