"""Report file assets: the daily activity report, the weekly report, the monthly finance pack.

Each reads the published ``marts`` schema only (never ``marts_staging``), so
a period whose checks failed is never reported. All three hold pool
``warehouse_marts`` (:mod:`pipelines.pools`): a report never reads ``marts``
while another run swaps it.

The weekly report and the monthly pack wait for their period: they are
launched once every day of it is in ``reporting.published_days``
(``pipelines.automation.published_periods_sensor``), and a run launched
earlier (by hand, a backfill) fails without writing a file, naming the days
still missing.
"""

from datetime import date, timedelta

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, Failure, MaterializeResult, asset

from pipelines import finance_pack
from pipelines.assets_extract import partition_days
from pipelines.partitions import daily_partitions, monthly_partitions, weekly_partitions
from pipelines.pools import MARTS_POOL
from pipelines.reports import (
    csv_bytes,
    dollars,
    period_end_stamp,
    query_frame,
    write_files,
    xlsx_bytes,
)
from pipelines.resources import PlatformResource

OWNERS = ["team:data-platform"]
PUBLISHED = [AssetKey("published_marts")]

_ACTIVITY = """
    select period_start, mcc_group, purchase_count, purchase_volume_cents, refund_volume_cents,
           active_accounts, average_ticket_cents, authorizations_count, approved_count, approval_rate
    from marts.{table} where period_start = %s
    order by mcc_group = 'all' desc, mcc_group
"""


def unpublished_days(platform: PlatformResource, start: date, end: date) -> list[date]:
    """The days from ``start`` to ``end`` (inclusive) not yet in ``reporting.published_days``.

    Days before the first published day count as published: the platform had no activity yet
    (the sensor launches nothing before it), and a week or month it started in is still whole.
    """
    with platform.warehouse() as conn:
        rows = conn.execute(
            "select d::date from generate_series(%s::date, %s::date, interval '1 day') as d "
            "where not exists (select 1 from reporting.published_days p where p.day = d::date) "
            "and d::date >= coalesce((select min(day) from reporting.published_days), '-infinity'::date) "
            "order by 1",
            (start, end),
        ).fetchall()
    return [row[0] for row in rows if isinstance(row[0], date)]


def require_published(platform: PlatformResource, grain: str, start: date, end: date) -> None:
    """Refuse (no retry) a period whose days are not all published: its figures would be partial."""
    missing = unpublished_days(platform, start, end)
    if missing:
        shown = ", ".join(str(day) for day in missing[:7]) + (" …" if len(missing) > 7 else "")
        raise Failure(
            description=(
                f"the {grain} of {start} is not complete: {len(missing)} day(s) not published ({shown})"
            ),
            allow_retries=False,
        )


def _activity_report(
    context: AssetExecutionContext,
    platform: PlatformResource,
    *,
    grain: str,
    period: str,
    start: date,
    end: date,
) -> int:
    with platform.warehouse() as conn:
        activity = dollars(query_frame(conn, _ACTIVITY.format(table=f"rpt_card_activity_{period}"), (start,)))
        receivables = dollars(
            query_frame(conn, "select * from marts.rpt_receivables_daily where balance_date = %s", (end,))
        )
    stamp = period_end_stamp(end)
    name = f"card_activity_{period}"
    files = {
        "csv": csv_bytes(activity),
        "xlsx": xlsx_bytes(
            {"Activity": activity, "Receivables": receivables},
            title=f"Card activity, {grain} of {start}",
            stamp=stamp,
        ),
    }
    written = write_files(
        platform, name=name, period=period, period_start=start, files=files, run_id=context.run.run_id
    )
    return len(written)


@asset(
    key="daily_activity_report",
    deps=PUBLISHED,
    description="Card activity of the day by MCC group, with the day's receivables: CSV and XLSX.",
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="reports",
    owners=OWNERS,
    kinds={"csv", "xlsx"},
    pool=MARTS_POOL,
)
def daily_activity_report(
    context: AssetExecutionContext, platform: PlatformResource
) -> MaterializeResult[None]:
    days = partition_days(context)
    files = sum(
        _activity_report(context, platform, grain="day", period="daily", start=d, end=d) for d in days
    )
    return MaterializeResult(metadata={"files": files, "days": len(days)})


@asset(
    key="weekly_activity_report",
    deps=PUBLISHED,
    description="Card activity of the ISO week (Monday to Sunday) by MCC group: CSV and XLSX.",
    partitions_def=weekly_partitions,
    group_name="reports",
    owners=OWNERS,
    kinds={"csv", "xlsx"},
    pool=MARTS_POOL,
)
def weekly_activity_report(
    context: AssetExecutionContext, platform: PlatformResource
) -> MaterializeResult[None]:
    start = context.partition_time_window.start.date()
    require_published(platform, "week", start, start + timedelta(days=6))
    files = _activity_report(
        context, platform, grain="week", period="weekly", start=start, end=start + timedelta(days=6)
    )
    return MaterializeResult(metadata={"files": files})


_MONTH_DAYS = """
    select d.date_day as day,
           coalesce(a.purchase_count, 0) as purchase_count,
           coalesce(a.purchase_volume_cents, 0) as purchase_volume_cents,
           coalesce(a.refund_volume_cents, 0) as refund_volume_cents,
           coalesce(a.authorizations_count, 0) as authorizations_count,
           a.approval_rate,
           r.outstanding_balance_cents, r.utilisation_rate,
           coalesce(p.succeeded_cents, 0) as payments_received_cents,
           coalesce(p.failed_count, 0) as failed_payments,
           coalesce(p.returned_cents, 0) as returned_payments_cents,
           coalesce(l.interest_cents, 0) as interest_cents,
           coalesce(l.fees_cents, 0) as fees_cents,
           coalesce(q.accounts_count - q.current_count, 0) as past_due_accounts,
           coalesce(q.dpd_30_plus_count, 0) as past_due_30_plus_accounts,
           coalesce(q.charged_off_cents, 0) as charged_off_cents,
           abs(coalesce(l.posted_difference_cents, 0)) + abs(coalesce(l.pending_difference_cents, 0))
               + abs(coalesce(l.payments_difference_cents, 0)) as ledger_difference_cents
    from marts.dim_date d
    left join marts.rpt_card_activity_daily a on a.period_start = d.date_day and a.mcc_group = 'all'
    left join marts.rpt_receivables_daily r on r.balance_date = d.date_day
    left join marts.rpt_ledger_reconciliation l on l.movement_date = d.date_day
    left join marts.rpt_payments p on p.payment_date = d.date_day
    left join marts.rpt_delinquency q on q.date_day = d.date_day
    where d.date_day between %s and %s
    order by d.date_day
"""


@asset(
    key="monthly_finance_pack",
    deps=PUBLISHED,
    description=(
        "The month a controller signs (pipelines/finance_pack.py): the receivables roll-forward tied to "
        "the ledger, income, payments and delinquency, each beside the prior month. XLSX (a sheet per "
        "section, the daily schedule, activity by category), CSV (the sections) and PDF (with charts)."
    ),
    partitions_def=monthly_partitions,
    group_name="reports",
    owners=OWNERS,
    kinds={"csv", "xlsx", "pdf"},
    pool=MARTS_POOL,
)
def monthly_finance_pack(
    context: AssetExecutionContext, platform: PlatformResource
) -> MaterializeResult[None]:
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date() - timedelta(days=1)
    require_published(platform, "month", start, end)
    with platform.warehouse() as conn:
        sections = finance_pack.build(conn, start)
        activity = query_frame(conn, _ACTIVITY.format(table="rpt_card_activity_monthly"), (start,))
        daily_cents = query_frame(conn, _MONTH_DAYS, (start, end))
    stamp = period_end_stamp(end)
    prior = finance_pack.prior_month(start)
    pdf = finance_pack.pdf_bytes(
        sections,
        title=f"Finance pack, {start:%B %Y}",
        stamp=stamp,
        months=(f"{start:%b %Y}", f"{prior:%b %Y}"),
        daily_volume=[
            (row["day"].day, int(row["purchase_volume_cents"])) for row in daily_cents.iter_rows(named=True)
        ],
        note=(
            "Figures from the published marts, checked by Great Expectations before publication. Money in "
            "US dollars; roll-forward lines that lower the receivables are negative, so the opening plus "
            "the lines is the closing. Each line's difference with the ledger (XLSX) is zero to the cent."
        ),
    )
    files = {
        "csv": finance_pack.csv_bytes(sections),
        "xlsx": xlsx_bytes(
            {**sections, "Daily schedule": dollars(daily_cents), "Activity by category": dollars(activity)},
            title=f"Finance pack {start:%Y-%m}",
            stamp=stamp,
        ),
        "pdf": pdf,
    }
    written = write_files(
        platform,
        name="finance_pack_monthly",
        period="monthly",
        period_start=start,
        files=files,
        run_id=context.run.run_id,
    )
    closing = finance_pack.figure(sections, "Roll-forward", "Closing receivables")
    income = finance_pack.figure(sections, "Income", "Total income")
    return MaterializeResult(
        metadata={"files": len(written), "closing_receivables_usd": closing, "total_income_usd": income}
    )
