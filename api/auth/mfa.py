"""TOTP, the second factor (RFC 6238; issue 21, finding 7), with the ``pyotp`` library.

- Enrolment (``POST /v1/me/mfa/totp``) draws a secret and answers it once, with its
  ``otpauth://`` URI for an authenticator app; it stays *pending* until confirmed with a code
  (``POST /v1/me/mfa/totp/confirm``). Enrolling again while pending replaces the pending
  secret; once confirmed it is 409 ``mfa_already_enrolled``: a lost device is reset by an admin
  (``POST /v1/admin/users/{id}/mfa/reset``), so that whoever holds a stolen session cannot move
  the factor to their own phone.
- Confirming ends every session of the user (token version bumped, refresh tokens revoked):
  they were opened with the password alone. From then on the password grant needs ``otp=``.
- The secret is kept sealed (AES-256-GCM under a key derived from ``CARD_DATA_KEY``, bound to
  the user's id: api/crypto.py), never in clear text, and never shown again.
- A code is accepted in the current 30-second step or one step either side (pyotp's
  ``valid_window=1``), and once only: the step of the last accepted code is kept, and a code of
  that step or an earlier one is refused (RFC 6238 §5.2).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy.orm import Session

from api.audit import service as audit
from api.audit.service import NO_ORIGIN, Origin
from api.auth import repository, versions
from api.auth.models import TotpCredential
from api.crypto import SecretBox
from api.errors import BadRequest, Conflict, NotFound

ISSUER = "cardportal"
VALID_WINDOW = 1  # steps accepted either side of the current one (clock drift, typing time)
CODE_DIGITS = 6
_SECRET_INFO = b"cardportal totp secret encryption v1"


def secret_box(card_data_key: str) -> SecretBox:
    """The sealer of TOTP secrets: CARD_DATA_KEY's scheme, under a key of this purpose only."""
    return SecretBox(card_data_key, info=_SECRET_INFO)


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str


def is_confirmed(credential: TotpCredential | None) -> bool:
    return credential is not None and credential.confirmed_at is not None


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code ``code`` is, within the window around ``now``; None if none."""
    if len(code) != CODE_DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def accept_code(credential: TotpCredential, code: str, *, box: SecretBox, now: datetime) -> bool:
    """Whether ``code`` is valid now and not a replay; an accepted code's step is remembered."""
    secret = box.decrypt(credential.secret_sealed, credential.user_id)
    step = matching_step(secret, code, now)
    if step is None or (credential.last_used_step is not None and step <= credential.last_used_step):
        return False
    credential.last_used_step = step
    return True


def enrol(
    session: Session, *, user_id: str, box: SecretBox, now: datetime, origin: Origin = NO_ORIGIN
) -> Enrolment:
    """A new pending secret for the user (replacing a pending one); audited."""
    user = repository.select_user(session, user_id)
    if user is None:
        raise NotFound("No such user.", code="user_not_found")
    credential = repository.lock_totp(session, user.id)
    if is_confirmed(credential):
        raise Conflict(
            "A second factor is already enrolled; an admin resets it when the device is lost.",
            code="mfa_already_enrolled",
        )
    secret = pyotp.random_base32()
    sealed = box.encrypt(secret, user.id)
    if credential is None:
        session.add(TotpCredential(user_id=user.id, secret_sealed=sealed, created_at=now))
    else:
        credential.secret_sealed, credential.created_at, credential.last_used_step = sealed, now, None
    audit.record(session, action=audit.MFA_ENROLLED, actor_id=user.id, target=user.id, origin=origin)
    session.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return Enrolment(secret=secret, otpauth_uri=uri)


def confirm(
    session: Session, *, user_id: str, code: str, box: SecretBox, now: datetime, origin: Origin = NO_ORIGIN
) -> None:
    """Confirm the pending secret with a code from it; ends the user's other sessions. A wrong
    code is 400 ``invalid_otp`` and audited."""
    user = repository.select_user(session, user_id)
    credential = repository.lock_totp(session, user_id)
    if user is None or credential is None:
        raise Conflict("Nothing to confirm: enrol first (POST /v1/me/mfa/totp).", code="mfa_not_enrolled")
    if is_confirmed(credential):
        raise Conflict("The second factor is already confirmed.", code="mfa_already_enrolled")
    if not accept_code(credential, code, box=box, now=now):
        audit.record(
            session,
            action=audit.MFA_CONFIRM_FAILED,
            actor_id=user.id,
            target=user.id,
            origin=origin,
            detail={"reason": "invalid_otp"},
        )
        session.flush()
        raise BadRequest("The code is incorrect or was already used.", code="invalid_otp", keep_changes=True)
    credential.confirmed_at = now
    # Sessions opened with the password alone end: the next sign-in needs a code.
    user.token_version += 1
    repository.revoke_user_tokens(session, user.id)
    versions.notify_changed(session, user.id)
    audit.record(session, action=audit.MFA_CONFIRMED, actor_id=user.id, target=user.id, origin=origin)
    session.flush()


def reset(session: Session, *, user_id: str, actor_id: str | None, origin: Origin = NO_ORIGIN) -> bool:
    """Remove the user's second factor (a lost device), ending their sessions; audited. Whether
    there was one."""
    user = repository.select_user(session, user_id)
    if user is None:
        raise NotFound("No such user.", code="user_not_found")
    credential = repository.lock_totp(session, user.id)
    had = credential is not None
    if credential is not None:
        session.delete(credential)
    user.token_version += 1
    repository.revoke_user_tokens(session, user.id)
    versions.notify_changed(session, user.id)
    audit.record(
        session,
        action=audit.MFA_RESET,
        actor_id=actor_id,
        target=user.id,
        origin=origin,
        detail={"had_factor": had, "was_confirmed": is_confirmed(credential)},
    )
    session.flush()
    return had
