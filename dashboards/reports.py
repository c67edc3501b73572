"""Report files, fetched through the API as the signed-in staff member (issue 21, finding 6).

The dashboards never read report files from disk: ``GET /v1/reports/{id}/download`` with the
staff member's access token serves them, so every download is the API's audited
``report.downloaded`` event with who, which file, the request id and, through
``X-Forwarded-For``, the staff member's own IP (``auth.client``), not the dashboards' host's.

A file is fetched when its button is pressed (one press, one audited download), then offered
to the browser by a save button: rendering a page fetches nothing.
"""

from __future__ import annotations

from typing import Any

import httpx
import streamlit as st

from dashboards import auth

HELD_KEY = "report_file_held"


class ReportUnavailable(Exception):
    """A message for the staff member (the file is missing, the API refused or is down)."""


def fetch_report(principal: auth.Principal, report_id: str, *, ip: str | None = None) -> bytes:
    """The report file's bytes from the API (audited there), as ``principal``, for the browser at ``ip``."""
    try:
        with auth.client(ip) as api:
            response = api.get(
                f"/v1/reports/{report_id}/download",
                headers={"Authorization": f"Bearer {principal.access_token}"},
            )
    except httpx.HTTPError as exc:
        where = auth.api_url()
        raise ReportUnavailable(f"The API at {where} does not answer ({exc.__class__.__name__}).") from exc
    if response.status_code == 200:
        return response.content
    problem: dict[str, Any] = {}
    try:
        body = response.json()
        problem = body if isinstance(body, dict) else {}
    except ValueError:
        pass
    if problem.get("code") == "report_file_missing":
        raise ReportUnavailable("Registered, but the file is missing from the reports folder.")
    raise ReportUnavailable(f"The API refused the download: {problem.get('detail') or response.status_code}")


def download(report_id: str, label: str, *, file_name: str, mime: str, key: str) -> None:
    """A button that fetches the file through the API, then one that saves it."""
    if st.button(label, key=key, icon=":material/download:"):
        try:
            payload = fetch_report(auth.signed_in(), report_id, ip=auth.client_ip())
        except ReportUnavailable as refused:
            st.warning(str(refused))
            return
        # One file held per browser session: the one fetched last.
        st.session_state[HELD_KEY] = (report_id, payload)
    held = st.session_state.get(HELD_KEY)
    if isinstance(held, tuple) and held[0] == report_id:
        st.download_button(
            f"Save {file_name}",
            held[1],
            file_name=file_name,
            mime=mime,
            key=f"{key}_save",
            on_click="ignore",
            type="primary",
        )
