"""One module per benchmark; each has ``NAME`` and ``run(env) -> Result``."""

from __future__ import annotations

ORDER = [
    "raw_ledger",
    "authorize",
    "authorize_p99",
    "auth_clear",
    "ledger_core",
    "scale_accounts",
    "history_page",
    "simulate",
    "extract",
    "mart_build",
    "incremental_day",
    "monthly_pack",
    "dashboard_page",
]
