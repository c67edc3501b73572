"""Start-up data: the first admin, and users created from the CLI."""

from __future__ import annotations

from api.auth import service as auth_service
from api.auth.models import User
from api.db import make_engine, make_sessionmaker, session_scope
from cardportal.settings import Settings


def create_user(url: str, *, email: str, password: str, full_name: str, role: str) -> tuple[User, bool]:
    """Create a user with a role; an existing user gets the role. Returns (user, created)."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            user, created = auth_service.ensure_user(
                session, email=email, password=password, full_name=full_name, role=role
            )
            if not created and user.role != role:
                auth_service.set_role(session, user_id=user.id, role=role)
            return user, created
    finally:
        engine.dispose()


def ensure_first_admin(settings: Settings, url: str) -> None:
    if not settings.first_admin_email or settings.first_admin_password is None:
        return
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            auth_service.ensure_user(
                session,
                email=settings.first_admin_email,
                password=settings.secret("first_admin_password"),
                full_name="Platform administrator",
                role="admin",
            )
    finally:
        engine.dispose()
