"""Report files: CSV, XLSX and PDF, with deterministic bytes, registered in the warehouse.

Money is in cents in the marts and in dollars here (exact decimals, never
floats). Re-running a period writes the same bytes: rows are ordered, the
XLSX's document dates are the period's end, and so is the PDF's creation
stamp. Files live under ``$CARDPORTAL_HOME/reports/<period>/<start>/`` and
are registered in ``reporting.report_files`` (one row per name, period start
and format, replaced on a re-run).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import psycopg

from pipelines.resources import PlatformResource

CENTS = Decimal(100)


@dataclass(frozen=True)
class ReportFile:
    id: str
    name: str
    period: str
    period_start: date
    format: str
    path: Path
    size_bytes: int
    sha256: str


def query_frame(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...] = ()) -> pl.DataFrame:
    cursor = conn.execute(query, params)
    columns = [c.name for c in cursor.description or []]
    rows = cursor.fetchall()
    return pl.DataFrame([dict(zip(columns, row, strict=True)) for row in rows], schema=columns, orient="row")


def dollars(frame: pl.DataFrame) -> pl.DataFrame:
    """Every ``…_cents`` column as exact dollars with two decimals, renamed ``…_usd``."""
    cents = [c for c in frame.columns if c.endswith("_cents")]
    return frame.with_columns(
        [
            pl.col(c)
            .map_elements(
                lambda v: str((Decimal(int(v)) / CENTS).quantize(Decimal("0.01"))), return_dtype=pl.String
            )
            .alias(c.removesuffix("_cents") + "_usd")
            for c in cents
        ]
    ).drop(cents)


def _strings(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns([pl.col(c).cast(pl.String) for c in frame.columns])


def csv_bytes(frame: pl.DataFrame) -> bytes:
    return _strings(frame).write_csv().encode()


def xlsx_bytes(sheets: dict[str, pl.DataFrame], *, title: str, stamp: datetime) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    # Fixed document dates: the same period writes the same bytes.
    workbook.set_properties({"title": title, "author": "cardportal", "created": stamp})
    header = workbook.add_format({"bold": True, "bottom": 1})
    for sheet_name, frame in sheets.items():
        sheet = workbook.add_worksheet(sheet_name)
        for col, name in enumerate(frame.columns):
            sheet.write_string(0, col, name, header)
            sheet.set_column(col, col, max(12, len(name) + 2))
        for row_number, row in enumerate(frame.iter_rows(), start=1):
            for col, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
                    sheet.write_number(row_number, col, float(value))
                else:
                    text = str(value)
                    if _is_decimal(text):
                        sheet.write_number(row_number, col, float(text))
                    else:
                        sheet.write_string(row_number, col, text)
    workbook.close()
    return buffer.getvalue()


def _is_decimal(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return text.replace(".", "", 1).lstrip("-").isdigit()


def report_id(name: str, period_start: date, fmt: str) -> str:
    digest = hashlib.sha256(f"{name}|{period_start.isoformat()}|{fmt}".encode()).hexdigest()
    return f"rpt_{digest[:24]}"


def write_files(
    platform: PlatformResource,
    *,
    name: str,
    period: str,
    period_start: date,
    files: dict[str, bytes],
    run_id: str,
) -> list[ReportFile]:
    """Write each format's bytes under the reports folder and register them in one transaction."""
    folder = platform.reports_dir / period / period_start.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    written: list[ReportFile] = []
    for fmt, payload in files.items():
        path = folder / f"{name}_{period_start.isoformat()}.{fmt}"
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_bytes(payload)
        temporary.replace(path)  # readers never see half a file
        written.append(
            ReportFile(
                id=report_id(name, period_start, fmt),
                name=name,
                period=period,
                period_start=period_start,
                format=fmt,
                path=path,
                size_bytes=len(payload),
                sha256=hashlib.sha256(payload).hexdigest(),
            )
        )
    with platform.warehouse() as conn, conn.transaction():
        for item in written:
            conn.execute(
                """
                insert into reporting.report_files
                    (id, name, period, period_start, format, path, size_bytes, sha256, run_id)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                on conflict (id) do update set
                    path = excluded.path, size_bytes = excluded.size_bytes, sha256 = excluded.sha256,
                    run_id = excluded.run_id, created_at = now()
                """,
                (
                    item.id,
                    item.name,
                    item.period,
                    item.period_start,
                    item.format,
                    str(item.path.relative_to(platform.reports_dir)),
                    item.size_bytes,
                    item.sha256,
                    run_id,
                ),
            )
    return written


def period_end_stamp(last_day: date) -> datetime:
    """The fixed creation stamp of a period's files: the end of its last day, UTC."""
    return datetime.combine(last_day, time(23, 59, 59), tzinfo=UTC)
