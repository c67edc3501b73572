from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status

from api.auth import service
from api.auth.schemas import LogoutIn, RegisterIn, TokenOut, UserOut
from api.deps import AnonymousIdempotency, ClockDep, CurrentPrincipal, OriginDep, SessionDep, SettingsDep
from api.errors import BadRequest, problem_responses

router = APIRouter(prefix="/v1", tags=["auth"])


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409, 422, s409="`email_taken`, or `idempotency_key_in_use`"),
)
def register(body: RegisterIn, session: SessionDep, idem: AnonymousIdempotency) -> UserOut:
    user = service.register(session, email=body.email, password=body.password, full_name=body.full_name)
    return idem.save(201, UserOut.model_validate(user))


@router.post(
    "/auth/token",
    responses=problem_responses(
        400,
        422,
        429,
        s400="`invalid_grant`, `invalid_request`, `unsupported_grant_type`",
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
) -> TokenOut:
    """OAuth2 token endpoint: the password grant and the refresh-token grant."""
    # Tokens must never be cached by a browser or a proxy (RFC 6749 §5.1).
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    tokens = request.app.state.token_settings
    refresh_ttl = timedelta(days=settings.refresh_token_ttl_days)
    if grant_type == "password":
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
        )
    elif grant_type == "refresh_token":
        if not refresh_token:
            raise BadRequest("The refresh_token grant needs refresh_token.", code="invalid_request")
        pair = service.refresh(
            session,
            refresh_token=refresh_token,
            tokens=tokens,
            refresh_ttl=refresh_ttl,
            now=clock.wall_now(),
            origin=origin,
        )
    else:
        raise BadRequest("grant_type must be password or refresh_token.", code="unsupported_grant_type")
    return TokenOut(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(422))
def logout(body: LogoutIn, session: SessionDep, clock: ClockDep) -> Response:
    service.logout(session, refresh_token=body.refresh_token, now=clock.wall_now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", responses=problem_responses(401, 404))
def me(principal: CurrentPrincipal, session: SessionDep) -> UserOut:
    return UserOut.model_validate(service.get_user(session, user_id=principal.user_id))
