from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status
from sqlalchemy.orm import Session

from api.audit import service as audit
from api.auth import cookies, mfa, service
from api.auth.schemas import (
    CookieTokenOut,
    LogoutIn,
    RegisterIn,
    TokenOut,
    TotpConfirmIn,
    TotpConfirmOut,
    TotpEnrolIn,
    TotpEnrolmentOut,
    UserOut,
)
from api.deps import AnonymousIdempotency, ClockDep, CurrentPrincipal, OriginDep, SessionDep, SettingsDep
from api.errors import AppError, BadRequest, problem_response, problem_responses

router = APIRouter(prefix="/v1", tags=["auth"])


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409, 422, s409="`email_taken`, or `idempotency_key_in_use`"),
)
def register(body: RegisterIn, session: SessionDep, idem: AnonymousIdempotency, origin: OriginDep) -> UserOut:
    user = service.register(session, email=body.email, password=body.password, full_name=body.full_name)
    audit.record(session, action=audit.REGISTERED, actor_id=user.id, target=user.id, origin=origin)
    return idem.save(201, UserOut.model_validate(user))


@router.post(
    "/auth/token",
    response_model=TokenOut | CookieTokenOut,
    responses=problem_responses(
        400,
        403,
        422,
        429,
        s400=(
            "`invalid_grant` (also a wrong or replayed `otp`; a staff session idle for 15 minutes has "
            "`reason: session_idle`), `mfa_required` (the user has a second factor: send `otp`), "
            "`invalid_request`, `unsupported_grant_type`"
        ),
        s403="`csrf_failed` (cookie mode only: a foreign Origin or a missing or wrong X-CSRF-Token)",
        s429="`login_locked` after 10 failed logins, or `rate_limited`",
    ),
)
def token(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    origin: OriginDep,
    grant_type: Annotated[str, Form(max_length=32)],
    # No NUL: PostgreSQL text cannot hold one, and the name is stored in login_throttles.
    username: Annotated[str | None, Form(max_length=320, pattern=r"^[^\x00]*$")] = None,
    password: Annotated[str | None, Form(max_length=256)] = None,
    refresh_token: Annotated[str | None, Form(max_length=512)] = None,
    otp: Annotated[
        str | None, Form(max_length=16, description="The TOTP code, once a second factor is confirmed.")
    ] = None,
) -> TokenOut | CookieTokenOut | Response:
    """OAuth2 token endpoint: the password grant and the refresh-token grant.

    With `X-Token-Transport: cookie` (browsers), the refresh token travels in an
    HttpOnly cookie instead of the body, and a refresh grant without `refresh_token`
    reads it from that cookie behind a CSRF check (api/auth/cookies.py).
    """
    # Tokens must never be cached by a browser or a proxy (RFC 6749 §5.1).
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    tokens = request.app.state.token_settings
    refresh_ttl = timedelta(days=settings.refresh_token_ttl_days)
    cookie_mode = cookies.wants_cookie(request)
    secure = settings.env != "sandbox"
    if grant_type == "password":
        if cookie_mode:
            cookies.check_origin(request, allowed=settings.cors_origins)
        if not username or not password:
            raise BadRequest("The password grant needs username and password.", code="invalid_request")
        pair = service.login_with_password(
            session,
            email=username,
            password=password,
            tokens=tokens,
            refresh_ttl=refresh_ttl,
            policy=request.app.state.login_policy,
            now=clock.wall_now(),
            origin=origin,
            otp=otp,
            totp_box=request.app.state.totp_box,
        )
    elif grant_type == "refresh_token":
        if not refresh_token and cookie_mode:
            refresh_token = cookies.cookie_refresh_token(
                request, secret=tokens.secret, allowed=settings.cors_origins
            )
            if not refresh_token:
                raise BadRequest("There is no refresh cookie: sign in again.", code="invalid_grant")
            try:
                pair = service.refresh(
                    session,
                    refresh_token=refresh_token,
                    tokens=tokens,
                    refresh_ttl=refresh_ttl,
                    now=clock.wall_now(),
                    origin=origin,
                    policy=request.app.state.login_policy,
                )
            except service.InvalidGrant as exc:
                # A spent, revoked or expired cookie is useless: clear it with the answer.
                return _problem_clearing_cookies(request, session, exc, secure=secure)
            return _cookie_answer(response, pair, secret=tokens.secret, max_age=refresh_ttl, secure=secure)
        if not refresh_token:
            raise BadRequest("The refresh_token grant needs refresh_token.", code="invalid_request")
        pair = service.refresh(
            session,
            refresh_token=refresh_token,
            tokens=tokens,
            refresh_ttl=refresh_ttl,
            now=clock.wall_now(),
            origin=origin,
            policy=request.app.state.login_policy,
        )
    else:
        raise BadRequest("grant_type must be password or refresh_token.", code="unsupported_grant_type")
    if cookie_mode:
        return _cookie_answer(response, pair, secret=tokens.secret, max_age=refresh_ttl, secure=secure)
    return TokenOut(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


def _cookie_answer(
    response: Response, pair: service.TokenPair, *, secret: str, max_age: timedelta, secure: bool
) -> CookieTokenOut:
    csrf_token = cookies.csrf_token_for(secret, pair.refresh_token)
    cookies.set_session_cookies(
        response,
        refresh_token=pair.refresh_token,
        csrf_token=csrf_token,
        max_age=int(max_age.total_seconds()),
        secure=secure,
    )
    return CookieTokenOut(access_token=pair.access_token, expires_in=pair.expires_in, csrf_token=csrf_token)


def _problem_clearing_cookies(request: Request, session: Session, exc: AppError, *, secure: bool) -> Response:
    if not exc.keep_changes:
        session.rollback()
    answer = problem_response(exc.status, exc.code, exc.title, exc.detail, request, headers=exc.headers)
    answer.headers["Cache-Control"] = "no-store"
    cookies.clear_session_cookies(answer, secure=secure)
    return answer


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(
        403, 422, s403="`csrf_failed` (cookie mode only: a foreign Origin or a missing or wrong X-CSRF-Token)"
    ),
)
def logout(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    origin: OriginDep,
    body: LogoutIn | None = None,
) -> Response:
    """Revoke the refresh token's family: `{refresh_token}` in the body, or, with no body,
    the browser's refresh cookie (CSRF-checked, api/auth/cookies.py), whose cookies the
    answer then clears. Like an unknown token, no cookie at all is a 204 that changes nothing."""
    if body is not None:
        service.logout(session, refresh_token=body.refresh_token, now=clock.wall_now(), origin=origin)
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    refresh_token = cookies.cookie_refresh_token(
        request, secret=request.app.state.token_settings.secret, allowed=settings.cors_origins
    )
    if refresh_token:
        service.logout(session, refresh_token=refresh_token, now=clock.wall_now(), origin=origin)
    answer = Response(status_code=status.HTTP_204_NO_CONTENT)
    cookies.clear_session_cookies(answer, secure=settings.env != "sandbox")
    return answer


@router.get("/me", responses=problem_responses(401, 404))
def me(principal: CurrentPrincipal, session: SessionDep) -> UserOut:
    return UserOut.model_validate(service.get_user(session, user_id=principal.user_id))


@router.post(
    "/me/mfa/totp",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 409, 422, s409="`mfa_already_enrolled` (an admin resets a lost device)"),
)
def enrol_totp(
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    clock: ClockDep,
    origin: OriginDep,
    _body: TotpEnrolIn | None = None,
) -> TotpEnrolmentOut:
    """Start enrolling a TOTP second factor: the secret, shown once, and its `otpauth://` URI.

    Pending until confirmed; enrolling again while pending replaces the secret."""
    box = request.app.state.totp_box
    enrolment = mfa.enrol(session, user_id=principal.user_id, box=box, now=clock.wall_now(), origin=origin)
    return TotpEnrolmentOut(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)


@router.post(
    "/me/mfa/totp/confirm",
    responses=problem_responses(
        400, 401, 409, 422, s400="`invalid_otp`", s409="`mfa_not_enrolled`, `mfa_already_enrolled`"
    ),
)
def confirm_totp(
    body: TotpConfirmIn,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    clock: ClockDep,
    origin: OriginDep,
) -> TotpConfirmOut:
    """Confirm the pending factor with a code from it. Every session of the user then ends (they
    were opened with the password alone); the password grant needs `otp` from now on."""
    mfa.confirm(
        session,
        user_id=principal.user_id,
        code=body.code,
        box=request.app.state.totp_box,
        now=clock.wall_now(),
        origin=origin,
    )
    return TotpConfirmOut(confirmed=True)
