from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api.pagination import paginate
from api.reports.models import ReportFile


def registry_exists(session: Session) -> bool:
    """Whether ``reporting.report_files`` exists: not until the warehouse is first prepared."""
    return bool(
        session.execute(text("select to_regclass('reporting.report_files') is not null")).scalar_one()
    )


def select_page(
    session: Session, *, limit: int, cursor: str | None
) -> tuple[Sequence[ReportFile], str | None]:
    return paginate(
        session,
        select(ReportFile),
        created_at=ReportFile.created_at,
        row_id=ReportFile.id,
        limit=limit,
        cursor=cursor,
    )


def select_one(session: Session, report_id: str) -> ReportFile | None:
    return session.get(ReportFile, report_id)
