"""GET /v1/reports and /v1/reports/{id}/download: finance, analysts and admins."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from api.deps import OriginDep, ReportsPrincipal, SessionDep
from api.errors import AppError, problem_responses
from api.ids import PathId
from api.pagination import CursorParam, LimitParam, Page
from api.reports import service
from api.reports.schemas import ReportOut

router = APIRouter(prefix="/v1/reports", tags=["reports"], responses=problem_responses(401, 403, 404, 422))


class ReportsUnavailable(AppError):
    status = 503
    code = "reports_unavailable"
    title = "Reports unavailable"


def _warehouse(request: Request) -> Iterator[Session]:
    """A read-only session on the warehouse, as the reader role (never committed)."""
    session: Session = request.app.state.warehouse_sessionmaker()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


WarehouseSession = Annotated[Session, Depends(_warehouse, scope="function")]


@router.get("")
def list_reports(
    _: ReportsPrincipal, session: WarehouseSession, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[ReportOut]:
    """Report files the data platform has written, newest first."""
    try:
        rows, next_cursor = service.list_reports(session, limit=limit, cursor=cursor)
    except DBAPIError as exc:
        raise ReportsUnavailable("The warehouse cannot be read right now.") from exc
    return Page[ReportOut](data=[ReportOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/{id}/download",
    response_class=FileResponse,
    responses={200: {"content": {media: {} for media in service.CONTENT_TYPES.values()}}},
)
def download_report(
    id: PathId,
    request: Request,
    principal: ReportsPrincipal,
    session: WarehouseSession,
    operational: SessionDep,
    origin: OriginDep,
) -> FileResponse:
    """The file, with its content type; each download is audited (who, which file, the request id)."""
    try:
        report, path = service.report_file(
            session, report_id=id, reports_dir=request.app.state.settings.reports_dir
        )
    except DBAPIError as exc:
        raise ReportsUnavailable("The warehouse cannot be read right now.") from exc
    service.record_download(operational, principal, report, path, origin=origin)
    return FileResponse(
        path,
        media_type=service.CONTENT_TYPES.get(report.format, "application/octet-stream"),
        filename=path.name,
    )
