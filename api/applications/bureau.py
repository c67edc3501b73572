"""Credit bureaus: where underwriting gets an applicant's score.

::

    CreditBureau (Protocol)      score(applicant) -> BureauReport
    ├── SandboxBureau            deterministic from identity; ``+score<NNN>`` chooses (sandbox only)
    └── HttpBureau               POST {BUREAU_URL}/v1/scores with a bearer BUREAU_API_KEY

    BureauUnavailable (AppError) 503 ``bureau_unavailable``: no usable score, nothing decided

The bureau is chosen once, at start (:func:`build_bureau`, from ``CREDIT_BUREAU``),
kept on ``app.state.credit_bureau`` and handed to the two places that score an
applicant: ``service.apply`` and ``credit_limits.request_credit_limit``.
Production refuses the sandbox bureau (``cardportal.settings``): there, an email
tag or a public hash must never choose a credit line (issue 21, finding 1).

The HTTP contract (docs/credit-bureau.md)
-----------------------------------------
Request, one per decision::

    POST {BUREAU_URL}/v1/scores
    Authorization: Bearer {BUREAU_API_KEY}
    Content-Type: application/json

    {"full_name": "Ada Lovelace", "date_of_birth": "1990-12-10",
     "email": "ada@example.com", "purpose": "application"}

``purpose`` is ``application`` (a new account) or ``credit_limit_increase`` (a
review of an open account). Answer ``200``::

    {"score": 742, "reference": "rpt_8f2c1e"}

``score`` is an integer from 300 to 850; ``reference`` is the bureau's id of
the report (1 to 128 characters), logged (``cardportal.bureau``) so that a
decision can be traced to its report; no table stores it yet.
Any other outcome is :class:`BureauUnavailable` and the request creates
nothing: no answer within ``BUREAU_TIMEOUT_SECONDS`` (connect, read, write and
pool each), a connection error, any status but 200 (redirects are not
followed: the key is never sent elsewhere), a body that is not that JSON, or a
score outside 300..850 (a bureau that answers 900 is broken, not generous).
The applicant's data is never in the problem's text or in a log line.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from api.applications import underwriting
from api.errors import AppError
from cardportal.settings import ConfigurationError, Settings

log = logging.getLogger("cardportal.bureau")

ScorePurpose = Literal["application", "credit_limit_increase"]
SCORES_PATH = "/v1/scores"


@dataclass(frozen=True)
class Applicant:
    """Who is scored: what a bureau matches a file on."""

    full_name: str
    email: str
    date_of_birth: date


@dataclass(frozen=True)
class BureauReport:
    """The bureau's answer: the score (300..850) and its id for the report."""

    score: int
    reference: str


class BureauUnavailable(AppError):
    status, code, title = 503, "bureau_unavailable", "Credit bureau unavailable"


class CreditBureau(Protocol):
    def score(self, applicant: Applicant, *, purpose: ScorePurpose) -> BureauReport: ...

    def close(self) -> None: ...


class SandboxBureau:
    """The sandbox bureau, unchanged: ``underwriting.sandbox_credit_score`` (see there)."""

    def score(self, applicant: Applicant, *, purpose: ScorePurpose) -> BureauReport:  # noqa: ARG002
        # Every purpose scores alike: the sandbox keeps no inquiries.
        score = underwriting.sandbox_credit_score(applicant.email, applicant.full_name)
        return BureauReport(score=score, reference="sandbox")

    def close(self) -> None:
        pass


class _ScoreAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    score: StrictInt
    reference: str = Field(min_length=1, max_length=128)


class HttpBureau:
    """A bureau behind the HTTP contract above; one pooled client for the process."""

    def __init__(self, url: str, api_key: str, *, timeout_seconds: float) -> None:
        self._url = url.rstrip("/")
        self._api_key = api_key
        self._timeout = httpx.Timeout(timeout_seconds)
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None

    def _client(self) -> httpx.Client:
        # Opened on first use, and again after close() (as an engine after dispose()): an
        # app's lifespan may end and start again in one process (tests, reloads).
        with self._lock:
            if self._http is None or self._http.is_closed:
                self._http = httpx.Client(
                    base_url=self._url,
                    headers={"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"},
                    timeout=self._timeout,
                    follow_redirects=False,
                )
            return self._http

    def score(self, applicant: Applicant, *, purpose: ScorePurpose) -> BureauReport:
        body = {
            "full_name": applicant.full_name,
            "date_of_birth": applicant.date_of_birth.isoformat(),
            "email": applicant.email,
            "purpose": purpose,
        }
        try:
            response = self._client().post(SCORES_PATH, json=body)
        except httpx.TimeoutException as exc:
            log.warning("credit bureau timed out (%s)", type(exc).__name__)
            raise BureauUnavailable(
                "The credit bureau did not answer in time; nothing was decided. Try again later."
            ) from exc
        except httpx.HTTPError as exc:
            log.warning("credit bureau unreachable (%s)", type(exc).__name__)
            raise BureauUnavailable(
                "The credit bureau cannot be reached; nothing was decided. Try again later."
            ) from exc
        if response.status_code != 200:
            log.warning("credit bureau answered %s", response.status_code)
            raise BureauUnavailable(
                f"The credit bureau answered {response.status_code}; nothing was decided."
            )
        try:
            answer = _ScoreAnswer.model_validate_json(response.content)
        except ValidationError as exc:
            log.warning("credit bureau answer is not {score, reference}")
            raise BureauUnavailable(
                "The credit bureau's answer was not understood; nothing was decided."
            ) from exc
        if not underwriting.MIN_SCORE <= answer.score <= underwriting.MAX_SCORE:
            log.warning("credit bureau score %s outside 300..850 (report %s)", answer.score, answer.reference)
            raise BureauUnavailable("The credit bureau's score is outside 300..850; nothing was decided.")
        log.info("credit bureau report %s (%s)", answer.reference, purpose)
        return BureauReport(score=answer.score, reference=answer.reference)

    def close(self) -> None:
        """Closes the pooled connections; the next ``score`` opens new ones."""
        with self._lock:
            if self._http is not None:
                self._http.close()


def build_bureau(settings: Settings) -> CreditBureau:
    """The bureau ``CREDIT_BUREAU`` names; never the sandbox's in production."""
    if settings.credit_bureau == "sandbox":
        if settings.env == "production":  # the settings refuse this already; a second lock
            raise ConfigurationError("CREDIT_BUREAU must be 'http' when CARDPORTAL_ENV=production")
        return SandboxBureau()
    if settings.bureau_url is None:
        raise ConfigurationError("BUREAU_URL must be set when CREDIT_BUREAU=http")
    return HttpBureau(
        str(settings.bureau_url),
        settings.secret("bureau_api_key"),
        timeout_seconds=settings.bureau_timeout_seconds,
    )
