"""Great Expectations suites on the marts, as blocking asset checks.

The marts are built into ``marts_staging``; these checks read them there. They
block: when one fails, ``published_marts`` (the publish into ``marts``) and the
report files downstream of it do not run, so nothing unchecked is ever seen
by dashboards or report readers (write-audit-publish).

Great Expectations is imported inside the check (the import takes ~10 s).
Validation results (JSON) and Data Docs are written under
``$CARDPORTAL_HOME/gx``; the check's metadata says where.
"""

import json
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    multi_asset_check,
)

from cardportal.database import parse_url
from pipelines.assets_dbt import CHECKED_TAG, dbt_manifest, mart_models
from pipelines.resources import PlatformResource

SCHEMA = "marts_staging"


def _suites() -> dict[str, list[Any]]:
    import great_expectations.expectations as gxe

    raw_rows = f"""
        select 1 from (select count(*) as n from {{batch}}) as marts
        where marts.n + (select count(*) from {SCHEMA}.fct_authorizations where not is_approved)
              <> (select count(distinct id) from raw.transactions)
    """
    return {
        "fct_transactions": [
            gxe.ExpectColumnValuesToNotBeNull(column="transaction_id"),
            gxe.ExpectColumnValuesToBeUnique(column="transaction_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="account_id"),
            gxe.ExpectColumnValuesToBeBetween(column="amount_cents", min_value=0),
            gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["pending", "posted", "reversed"]),
            gxe.ExpectColumnValuesToBeInSet(
                column="transaction_type",
                value_set=[
                    "purchase",
                    "refund",
                    "payment",
                    "interest",
                    "fee",
                    "reversal",
                    "recovery",
                    "recovery_return",
                ],
            ),
            gxe.UnexpectedRowsExpectation(
                description="fct_transactions + declined authorizations = the distinct ids in raw",
                unexpected_rows_query=raw_rows,
            ),
        ],
        "fct_authorizations": [
            gxe.ExpectColumnValuesToBeUnique(column="authorization_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="authorized_date"),
            gxe.UnexpectedRowsExpectation(
                description="every declined authorization has a decline code",
                unexpected_rows_query="select * from {batch} where not is_approved and decline_code is null",
            ),
        ],
        "dim_accounts": [
            gxe.ExpectColumnValuesToBeUnique(column="account_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="customer_key"),
            gxe.ExpectColumnValuesToBeBetween(column="credit_limit_cents", min_value=0),
            gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["active", "closed"]),
        ],
        "rpt_card_activity_daily": [
            gxe.ExpectColumnValuesToBeBetween(column="approval_rate", min_value=0, max_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="purchase_volume_cents", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="active_accounts", min_value=0),
        ],
        "rpt_ledger_reconciliation": [
            gxe.UnexpectedRowsExpectation(
                description="the marts' money movements equal the ledger's, to the cent, every day",
                unexpected_rows_query=(
                    "select * from {batch} where posted_difference_cents <> 0 "
                    "or pending_difference_cents <> 0 or payments_difference_cents <> 0"
                ),
            ),
        ],
        "fct_payments": [
            gxe.ExpectColumnValuesToNotBeNull(column="payment_id"),
            gxe.ExpectColumnValuesToBeUnique(column="payment_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="account_id"),
            gxe.ExpectColumnValuesToBeBetween(column="amount_cents", min_value=1),
            gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["pending", "succeeded", "failed"]),
            gxe.ExpectColumnValuesToBeInSet(column="initiated_by", value_set=["customer", "autopay"]),
            gxe.ExpectColumnValuesToBeInSet(
                column="payment_kind",
                value_set=["full", "partial", "minimum", "below_minimum", "no_statement"],
            ),
            gxe.UnexpectedRowsExpectation(
                description="returned amounts lie between 0 and the amount; only succeeded payments return",
                unexpected_rows_query=(
                    "select * from {batch} where returned_amount_cents < 0 "
                    "or returned_amount_cents > amount_cents "
                    "or (returned_amount_cents > 0 and status <> 'succeeded')"
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="fct_payments holds every payment in raw",
                unexpected_rows_query=(
                    "select 1 from (select count(*) as n from {batch}) as marts "
                    "where marts.n <> (select count(distinct id) from raw.payments)"
                ),
            ),
        ],
        "fct_statements": [
            gxe.ExpectColumnValuesToNotBeNull(column="statement_id"),
            gxe.ExpectColumnValuesToBeUnique(column="statement_id"),
            gxe.ExpectColumnValuesToBeBetween(column="minimum_payment_cents", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="late_fee_cents", min_value=0),
            gxe.UnexpectedRowsExpectation(
                description=(
                    "closing = opening + purchases - refunds - payments + returned payments + interest"
                    " + fees; the past-due amount within the minimum; due later"
                ),
                unexpected_rows_query=(
                    "select * from {batch} where closing_balance_cents <> opening_balance_cents "
                    "+ purchases_cents - refunds_cents - payments_cents + returned_payments_cents "
                    "+ interest_cents + fees_cents "
                    "or past_due_amount_cents > minimum_payment_cents "
                    "or due_date <= period_end or period_end < period_start"
                ),
            ),
        ],
        "rpt_delinquency": [
            gxe.ExpectColumnValuesToBeUnique(column="date_day"),
            gxe.ExpectColumnValuesToNotBeNull(column="date_day"),
            gxe.ExpectColumnValuesToBeBetween(column="accounts_count", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="dpd_30_plus_balance_rate", min_value=0, max_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="roll_rate_current_to_1_29", min_value=0, max_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="roll_rate_1_29_to_30_59", min_value=0, max_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="roll_rate_30_59_to_60_89", min_value=0, max_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="roll_rate_60_89_to_90_plus", min_value=0, max_value=1),
            gxe.UnexpectedRowsExpectation(
                description="the buckets add up to the accounts, every day",
                unexpected_rows_query=(
                    "select * from {batch} where current_count + dpd_1_29_count + dpd_30_59_count "
                    "+ dpd_60_89_count + dpd_90_plus_count <> accounts_count "
                    "or least(current_count, dpd_1_29_count, dpd_30_59_count, dpd_60_89_count, "
                    "dpd_90_plus_count, charge_offs_count, charged_off_cents, past_due_cents) < 0"
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="net charge-offs are gross charge-offs less recoveries (Call Report RI-B)",
                unexpected_rows_query=(
                    "select * from {batch}"
                    " where net_charge_offs_cents <> charged_off_cents - recoveries_cents"
                ),
            ),
        ],
        "rpt_payments": [
            gxe.ExpectColumnValuesToBeUnique(column="payment_date"),
            gxe.ExpectColumnValuesToNotBeNull(column="payment_date"),
            gxe.ExpectColumnValuesToBeBetween(column="autopay_uptake_rate", min_value=0, max_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="payment_rate", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="failed_count", min_value=0),
            gxe.UnexpectedRowsExpectation(
                description="outcomes and the kinds of succeeded payments add up",
                unexpected_rows_query=(
                    "select * from {batch} where succeeded_count + failed_count + pending_count "
                    "<> payments_count or full_count + partial_count + minimum_count "
                    "+ below_minimum_count + no_statement_count <> succeeded_count"
                ),
            ),
        ],
        "rpt_revenue_monthly": [
            gxe.ExpectColumnValuesToBeUnique(column="period_start"),
            gxe.ExpectColumnValuesToBeBetween(column="interest_income_cents", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="fee_income_cents", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="late_fee_income_cents", min_value=0),
            gxe.UnexpectedRowsExpectation(
                description="income adds up and equals the interest and fees posted in fct_transactions",
                unexpected_rows_query=f"""
                    select * from {{batch}}
                    where total_income_cents <> interest_income_cents + fee_income_cents
                       or fee_income_cents <> late_fee_income_cents + other_fee_income_cents
                       or (total_income_cents <> 0 and (period_start, total_income_cents) not in (
                            select date_trunc('month', posted_date)::date, sum(amount_cents)::bigint
                            from {SCHEMA}.fct_transactions
                            where status = 'posted' and transaction_type in ('interest', 'fee')
                            group by 1))
                """,
            ),
            gxe.UnexpectedRowsExpectation(
                description="net charge-offs are gross charge-offs less recoveries (Call Report RI-B), "
                "and income is reduced by the net",
                unexpected_rows_query=(
                    "select * from {batch}"
                    " where net_charge_offs_cents <> charged_off_cents - recoveries_cents"
                    " or income_less_charge_offs_cents <> total_income_cents - net_charge_offs_cents"
                ),
            ),
        ],
        "rpt_finance_monthly": [
            gxe.ExpectColumnValuesToBeUnique(column="period_start"),
            gxe.ExpectColumnValuesToNotBeNull(column="period_start"),
            gxe.UnexpectedRowsExpectation(
                description="each roll-forward line equals the ledger's, the lines carry the opening "
                "to the closing, and no receivable movement is left unexplained, to the cent",
                unexpected_rows_query=(
                    "select * from {batch} where "
                    + " or ".join(
                        f"{column} <> 0"
                        for column in (
                            "roll_forward_difference_cents",
                            "purchases_difference_cents",
                            "refunds_difference_cents",
                            "payments_difference_cents",
                            "returned_payments_difference_cents",
                            "interest_difference_cents",
                            "fees_difference_cents",
                            "charge_offs_difference_cents",
                            "recoveries_difference_cents",
                            "recoveries_returned_difference_cents",
                            "unmatched_ledger_cents",
                        )
                    )
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="each month opens at the previous month's closing",
                unexpected_rows_query=(
                    "select * from (select period_start, opening_receivables_cents, "
                    "lag(closing_receivables_cents, 1, 0::bigint) over (order by period_start) as previous "
                    "from {batch}) as months where opening_receivables_cents <> previous"
                ),
            ),
        ],
    }


def checked_tables(manifest: Mapping[str, Any]) -> tuple[str, ...]:
    """The marts dbt tags ``great_expectations`` (their YAML's ``config.tags``): each has a
    blocking suite here. One list: the tag; ``_suites()`` must have a suite for each, and only."""
    return tuple(
        name for name, node in mart_models(manifest).items() if CHECKED_TAG in node["config"]["tags"]
    )


CHECKED_TABLES = checked_tables(dbt_manifest())


def gx_connection_string(conninfo: str) -> str:
    """GE refuses an empty host: name localhost and let the socket ``host`` parameter win."""
    url = parse_url(conninfo)
    if not url.host:
        url = url.set(host="localhost")
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def run_suites(conninfo: str, gx_dir: Path, run_id: str) -> dict[str, dict[str, Any]]:
    """Validate each checked table; per table: success and the failed expectations."""
    # Great Expectations' own deprecation warnings (sre_constants, pandas, …) are not ours to fix.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _run_suites(conninfo, gx_dir, run_id)


def _run_suites(conninfo: str, gx_dir: Path, run_id: str) -> dict[str, dict[str, Any]]:
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    docs_dir = gx_dir / "data_docs"
    context.add_data_docs_site(
        site_name="cardportal",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    source = context.data_sources.add_postgres(
        name="warehouse", connection_string=gx_connection_string(conninfo)
    )
    suites = _suites()
    if set(suites) != set(CHECKED_TABLES):
        raise RuntimeError(
            f"tagged {CHECKED_TAG!r} in dbt: {sorted(CHECKED_TABLES)}; suites here: {sorted(suites)}"
        )
    definitions = []
    for table, expectations in suites.items():
        batch = source.add_table_asset(name=table, table_name=table, schema_name=SCHEMA)
        suite = context.suites.add(gx.ExpectationSuite(name=f"{table}_suite", expectations=expectations))
        definitions.append(
            context.validation_definitions.add(
                gx.ValidationDefinition(
                    name=table, data=batch.add_batch_definition_whole_table(f"{table}_whole"), suite=suite
                )
            )
        )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="marts", validation_definitions=definitions, actions=[UpdateDataDocsAction(name="docs")]
        )
    )
    result = checkpoint.run()
    outcome: dict[str, dict[str, Any]] = {}
    for validation in result.run_results.values():
        table = validation.meta["active_batch_definition"]["data_asset_name"]
        failed = [
            {
                "expectation": r.expectation_config.type if r.expectation_config else None,
                "column": r.expectation_config.kwargs.get("column") if r.expectation_config else None,
                "unexpected": r.result.get("unexpected_count", r.result.get("observed_value")),
            }
            for r in validation.results
            if not r.success
        ]
        outcome[table] = {
            "success": validation.success,
            "failed": failed,
            "evaluated": len(validation.results),
        }
    results_dir = gx_dir / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    # GE's description of a suite's result names neither the suite nor the table: add both, so
    # the dashboards' Data quality page can say which suite on which table passed.
    described = result.describe_dict()
    for entry, validation in zip(described["validation_results"], result.run_results.values(), strict=True):
        entry["suite_name"] = validation.suite_name
        entry["asset_name"] = validation.meta["active_batch_definition"]["data_asset_name"]
    (results_dir / f"{run_id}.json").write_text(json.dumps(described, indent=1, default=str))
    return outcome


@multi_asset_check(
    specs=[
        AssetCheckSpec(
            name=f"great_expectations_{table}",
            asset=AssetKey(["marts", table]),
            blocking=True,
            description=f"Great Expectations suite {table}_suite on {SCHEMA}.{table}; blocks publishing.",
        )
        for table in CHECKED_TABLES
    ],
)
def great_expectations_marts(
    context: AssetCheckExecutionContext, platform: PlatformResource
) -> Iterator[AssetCheckResult]:
    gx_dir = platform.home_dir / "gx"
    outcome = run_suites(platform.warehouse_conninfo, gx_dir, context.run.run_id)
    for table in CHECKED_TABLES:
        verdict = outcome.get(table, {"success": False, "failed": ["not validated"], "evaluated": 0})
        yield AssetCheckResult(
            asset_key=AssetKey(["marts", table]),
            check_name=f"great_expectations_{table}",
            passed=bool(verdict["success"]),
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "expectations": verdict["evaluated"],
                "failed": json.dumps(verdict["failed"], default=str),
                "data_docs": str(gx_dir / "data_docs" / "index.html"),
                "results": str(gx_dir / "results" / f"{context.run.run_id}.json"),
            },
        )
