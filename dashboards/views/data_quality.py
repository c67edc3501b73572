"""Data quality: the ledger reconciliation, Great Expectations and dbt test results, mart freshness, runs."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

st.title("Data quality")
cfg = data.config()
docs = data.docs_url()
st.markdown(
    f"Pipelines, asset checks and runs: [Dagster UI]({cfg.dagster_ui_url}). "
    f"[dbt docs]({docs}/dbt/) (every model and column, the lineage to these pages and the report "
    f"files) and [Great Expectations Data Docs]({docs}/gx/) (the blocking checks and their results)."
)


def alerts_section() -> None:
    st.subheader("Alerts")
    alerts = data.latest_alerts()
    if not alerts:
        st.success("No alerts in the sandbox outbox: no failed run, check or freshness check so far.")
        return
    st.warning(f"The newest {len(alerts)} alerts (failed runs and checks, stale marts, stale sources):")
    st.dataframe(alerts, hide_index=True, key="dq_alerts")


if not data.existing_marts():
    ui.empty_state()
    alerts_section()
    st.stop()

st.subheader("Marts against the ledger")
if data.mart_exists("rpt_ledger_reconciliation"):
    recon = data.reconciliation()
    broken = recon[(recon["posted_difference_cents"] != 0) | (recon["pending_difference_cents"] != 0)]
    if recon.empty:
        st.info("No reconciled days yet.")
    elif broken.empty:
        st.success(f"The last {len(recon)} days reconcile to the cent (posted and pending).")
    else:
        st.error(f"{len(broken)} of the last {len(recon)} days differ from the ledger.")
    st.dataframe(ui.money_frame(recon), hide_index=True, key="dq_reconciliation")
    ui.csv_download(recon, "ledger_reconciliation", key="csv_reconciliation")

st.subheader("Great Expectations: the latest checkpoint")
results = data.latest_ge_results()
if results is None:
    st.info("No Great Expectations results written yet (they appear after a pipeline run).")
else:
    run_id, rows = results
    failed = [r for r in rows if not r["success"]]
    (st.error if failed else st.success)(
        f"Run `{run_id}`: {len(rows) - len(failed)} of {len(rows)} suites passed."
    )
    st.dataframe(rows, hide_index=True, key="dq_ge")

st.subheader("dbt tests: the latest build")
tests = data.latest_dbt_tests()
if tests.empty:
    st.info("No dbt build recorded yet (its data and unit tests appear after a pipeline run).")
else:
    failing = tests[tests["status"] != "pass"]
    (st.error if not failing.empty else st.success)(
        f"Run `{tests['run_id'].iloc[0]}`: {len(tests) - len(failing)} of {len(tests)} dbt tests passed "
        f"({int((tests['kind'] == 'unit_test').sum())} unit tests)."
    )
    st.dataframe(tests.drop(columns="run_id"), hide_index=True, key="dq_dbt_tests")

st.subheader("Mart freshness")
st.caption(
    "Each mart's latest business day (from its own date column; for the facts published by day, "
    "the latest day published) and its estimated row count."
)
fresh = data.freshness()
st.dataframe(fresh, hide_index=True, key="dq_freshness")
ui.csv_download(fresh, "mart_freshness", key="csv_freshness")

st.subheader("Last Dagster runs")
runs = data.dagster_runs()
if runs is None:
    problem = (data.dagster_problem() or "").replace("`", "'")
    st.info(
        "No Dagster runs readable from its storage database"
        + (f" (`{problem}`; not tried again for {data.DAGSTER_RETRY_SECONDS:.0f} s)" if problem else "")
        + f"; see the [Dagster UI]({cfg.dagster_ui_url})."
    )
elif runs.empty:
    st.info(f"No Dagster run recorded yet; see the [Dagster UI]({cfg.dagster_ui_url}).")
else:
    st.dataframe(runs, hide_index=True, key="dq_runs")

alerts_section()
