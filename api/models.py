"""Every model, imported once so that ``Base.metadata`` knows all tables."""

from api.auth.models import LoginThrottle, RefreshToken, User
from api.db import Base
from api.gateway.idempotency import IdempotencyRecord

__all__ = ["Base", "IdempotencyRecord", "LoginThrottle", "RefreshToken", "User"]
