"""Which report files exist, and where one is on disk (never outside the reports folder)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.orm import Session

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
    return repository.select_page(session, limit=limit, cursor=cursor)


def report_file(session: Session, *, report_id: str, reports_dir: Path) -> tuple[ReportFile, Path]:
    """The report and its file. A registered path that leaves the reports folder
    (``..``, an absolute path, a symlink out) is treated as missing, never served."""
    report = repository.select_one(session, report_id)
    if report is None:
        raise NotFound("No report with this id.", code="report_not_found")
    root = reports_dir.resolve()
    path = (root / report.path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound("This report's file is not available.", code="report_file_missing")
    return report, path
