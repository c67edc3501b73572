"""The browser's refresh-token cookie and its CSRF defence (additive to API.md's contract).

Non-browser clients keep the plain OAuth2 flow: ``POST /v1/auth/token`` answers the
refresh token in the body, and they send it back in the form (refresh grant) or in
``POST /v1/auth/logout {refresh_token}``. Nothing below changes that.

A browser asks for the cookie mode explicitly with ``X-Token-Transport: cookie``:

1. **Sign-in** (password grant with the header): the answer's body carries the access
   token and a ``csrf_token`` but no refresh token. The refresh token goes into the
   ``cp_refresh`` cookie: ``HttpOnly`` (no script can read it), ``SameSite=Strict``,
   ``Path=/v1/auth`` (sent only to the token and logout endpoints), ``Secure`` outside
   sandbox mode, and as long-lived as the refresh token. The CSRF token also goes into
   the ``cp_csrf`` cookie (readable by the page, ``Path=/``, same flags otherwise), so a
   reloaded page can find it again; the access token stays in the page's memory only.
2. **Refresh** (refresh grant with the header and no ``refresh_token`` field) and
   **sign-out** (logout with no body; the header is then optional) read the refresh token from the
   cookie and must pass the CSRF check, else 403 ``csrf_failed`` and nothing changes:
   - the ``X-CSRF-Token`` header must equal ``HMAC-SHA256(jwt secret, refresh token)``
     (the signed double-submit pattern: an attacker who can plant cookies still
     cannot compute it, and the value rotates with every refresh);
   - the request's ``Origin`` (or, without one, ``Sec-Fetch-Site``) must be this
     origin or one of ``CORS_ORIGINS``; a foreign origin is refused before anything else.
   A custom header also forces a CORS preflight, which a foreign site cannot pass.
   The sign-in in cookie mode checks the origin too (login CSRF).
3. Every refresh rotates the refresh token and both cookies; a reused refresh token
   revokes its whole family (``service.refresh``) and clears the cookies; sign-out
   revokes the family and clears both cookies.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal
from urllib.parse import urlsplit

from fastapi import Request, Response

from api.errors import Forbidden

TRANSPORT_HEADER = "X-Token-Transport"
CSRF_HEADER = "X-CSRF-Token"
REFRESH_COOKIE = "cp_refresh"
CSRF_COOKIE = "cp_csrf"
REFRESH_COOKIE_PATH = "/v1/auth"
CSRF_COOKIE_PATH = "/"


class CsrfFailed(Forbidden):
    code, title = "csrf_failed", "Cross-site request refused"


def wants_cookie(request: Request) -> bool:
    """True when the caller asked for the browser's cookie mode."""
    return request.headers.get(TRANSPORT_HEADER, "").strip().lower() == "cookie"


def csrf_token_for(secret: str, refresh_token: str) -> str:
    """The CSRF token bound to one refresh token (signed double-submit)."""
    return hmac.new(secret.encode(), b"csrf:" + refresh_token.encode(), hashlib.sha256).hexdigest()


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}".lower()


def check_origin(request: Request, *, allowed: list[str]) -> None:
    """Refuse a request that a browser says came from another site."""
    origin = request.headers.get("origin")
    if origin is not None:
        parts = urlsplit(origin)
        normalised = f"{parts.scheme}://{parts.netloc}".lower()
        if normalised != _own_origin(request) and normalised not in {a.rstrip("/").lower() for a in allowed}:
            raise CsrfFailed("This request came from another site.")
        return
    # No Origin header: browsers send Fetch Metadata instead on some requests.
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise CsrfFailed("This request came from another site.")


def cookie_refresh_token(request: Request, *, secret: str, allowed: list[str]) -> str | None:
    """The refresh token from the cookie once the CSRF checks pass (None when there is no cookie).

    The origin is checked first: a foreign site gets a 403 even without a cookie.
    """
    check_origin(request, allowed=allowed)
    refresh_token = request.cookies.get(REFRESH_COOKIE)
    if not refresh_token:
        return None
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), csrf_token_for(secret, refresh_token).encode()):
        raise CsrfFailed(f"Send the {CSRF_HEADER} header with the value of the {CSRF_COOKIE} cookie.")
    return refresh_token


def set_session_cookies(
    response: Response, *, refresh_token: str, csrf_token: str, max_age: int, secure: bool
) -> None:
    same_site: Literal["strict"] = "strict"
    response.set_cookie(
        REFRESH_COOKIE,
        refresh_token,
        max_age=max_age,
        path=REFRESH_COOKIE_PATH,
        secure=secure,
        httponly=True,
        samesite=same_site,
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token,
        max_age=max_age,
        path=CSRF_COOKIE_PATH,
        secure=secure,
        httponly=False,  # the page reads it and echoes it in X-CSRF-Token
        samesite=same_site,
    )


def clear_session_cookies(response: Response, *, secure: bool) -> None:
    response.delete_cookie(
        REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, secure=secure, httponly=True, samesite="strict"
    )
    response.delete_cookie(
        CSRF_COOKIE, path=CSRF_COOKIE_PATH, secure=secure, httponly=False, samesite="strict"
    )
