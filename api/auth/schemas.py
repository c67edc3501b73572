from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

Role = Literal["customer", "analyst", "finance", "admin"]

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=320)
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
    full_name: str = Field(min_length=1, max_length=200)

    @field_validator("full_name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value or not value.isprintable():
            raise ValueError("full_name must be printable text")
        return value


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    full_name: str
    role: Role
    created_at: datetime


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str


class CookieTokenOut(BaseModel):
    """The token answer in the browser's cookie mode (`X-Token-Transport: cookie`): the
    refresh token is in the HttpOnly `cp_refresh` cookie, never in the body."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    csrf_token: str = Field(
        description="Send it back in X-CSRF-Token on refresh and logout (also in cp_csrf)."
    )


class LogoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=512)


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class TotpEnrolIn(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TotpEnrolmentOut(BaseModel):
    secret: str = Field(description="Base32; shown once. Enter it in an authenticator app, or scan the URI.")
    otpauth_uri: str


class TotpConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")


class TotpConfirmOut(BaseModel):
    confirmed: bool
