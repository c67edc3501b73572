"""``reporting.report_files`` in the warehouse, written by the pipelines.

Mapped on a metadata of its own: it is not an operational table, so Alembic
(which migrates the operational database from ``api.db.Base``) never sees it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class WarehouseBase(DeclarativeBase):
    metadata = MetaData(schema="reporting")
    type_annotation_map = {datetime: DateTime(timezone=True), int: BigInteger, date: Date}


class ReportFile(WarehouseBase):
    __tablename__ = "report_files"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str]
    period: Mapped[str]
    period_start: Mapped[date]
    format: Mapped[str]
    # Relative to the reports folder ($CARDPORTAL_HOME/reports).
    path: Mapped[str]
    size_bytes: Mapped[int]
    sha256: Mapped[str]
    run_id: Mapped[str]
    created_at: Mapped[datetime]
