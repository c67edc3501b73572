"""Which report files exist, and where one is on disk (never outside the reports folder)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.orm import Session

from api.audit import service as audit
from api.audit.service import Origin
from api.auth.security import Principal
from api.errors import NotFound
from api.reports import repository
from api.reports.models import ReportFile

CONTENT_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def list_reports(
    session: Session, *, limit: int, cursor: str | None
) -> tuple[Sequence[ReportFile], str | None]:
    """A page of report files, newest first. A warehouse the pipelines never prepared (a fresh
    platform) has no registry yet: no reports, not an outage."""
    if not repository.registry_exists(session):
        return [], None
    return repository.select_page(session, limit=limit, cursor=cursor)


def report_file(session: Session, *, report_id: str, reports_dir: Path) -> tuple[ReportFile, Path]:
    """The report and its file. A registered path that leaves the reports folder
    (``..``, an absolute path, a symlink out) is treated as missing, never served."""
    report = repository.select_one(session, report_id) if repository.registry_exists(session) else None
    if report is None:
        raise NotFound("No report with this id.", code="report_not_found")
    root = reports_dir.resolve()
    path = (root / report.path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound("This report's file is not available.", code="report_file_missing")
    return report, path


def record_download(
    session: Session, principal: Principal, report: ReportFile, path: Path, *, origin: Origin
) -> None:
    """Audit a download in the operational database: the reader, the report and its file."""
    audit.record(
        session,
        action=audit.REPORT_DOWNLOADED,
        actor_id=principal.user_id,
        target=report.id,
        origin=origin,
        detail={
            "file": path.name,
            "name": report.name,
            "format": report.format,
            "period_start": report.period_start.isoformat(),
            "sha256": report.sha256,
        },
    )
