"""The customer web app (``web/``, built by ``make web``) served at ``/app``.

The built files are static; any path under ``/app`` that is not a file (a deep
link such as ``/app/accounts/acct_1/card``) gets ``index.html`` so the app's
router can draw it. Every answer carries a Content-Security-Policy that allows
only this origin's scripts, styles and API (no inline script, no framing), and
hashed assets are cached for a year while ``index.html`` is revalidated. Answers
are gzipped for clients that accept it (the script bundle shrinks from ~300 kB to
~92 kB), here only, not on the API's own answers.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

WEB_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
MOUNT_PATH = "/app"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class SinglePageApp(StaticFiles):
    """StaticFiles with a fallback to index.html for paths that name no file."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            # A missing asset (a name with an extension) stays a 404.
            if exc.status_code != 404 or "." in PurePosixPath(path).name:
                raise
            response = await super().get_response("index.html", scope)
            path = "index.html"
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Frame-Options"] = "DENY"
        if path.startswith("assets/"):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        return response


def mount_webapp(app: FastAPI, dist: Path = WEB_DIST) -> bool:
    """Serve ``dist`` at /app when it holds a build; False (and nothing mounted) otherwise."""
    if not (dist / "index.html").is_file():
        return False
    app.mount(
        MOUNT_PATH, GZipMiddleware(SinglePageApp(directory=dist, html=True), minimum_size=1024), name="webapp"
    )
    return True
