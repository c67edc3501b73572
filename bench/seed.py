"""Bench data written straight into the service tables, in bulk.

Why not through the services: ``auth.service.register`` hashes a password
with argon2 (~50 ms each on these machines, ~80 minutes for 100,000
customers) and the ORM path flushes row by row. So customers, accounts and
their ledger receivables are one ``INSERT … SELECT generate_series`` each,
and cards are encrypted by the real :class:`CardVault` and loaded with
``COPY``; the rows are what the services would write (same ids' shape,
same checks, a real argon2 hash shared by every seeded user).

Transactions for the history benchmark are generated the same way: one
``INSERT … SELECT`` of posted purchases spread over a year.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from api.auth.security import hash_password
from api.cards.numbers import SANDBOX_BIN, CardVault, expiry_for, last4, luhn_check_digit
from bench.env import CARD_DATA_KEY
from cardportal.database import libpq_conninfo

PASSWORD = "bench-password-123"
CREDIT_LIMIT = 10**12  # nothing declines for want of credit during a run


def account_id(i: int) -> str:
    return f"acct_bench{i:010d}"


def card_id(i: int) -> str:
    return f"card_bench{i:010d}"


def user_id(i: int) -> str:
    return f"usr_bench{i:010d}"


def user_email(i: int) -> str:
    return f"bench{i}@example.com"


_USERS = """
insert into users (id, email, full_name, password_hash, role, is_active)
select 'usr_bench' || lpad(g::text, 10, '0'), 'bench' || g || '@example.com', 'Bench Holder ' || g,
       %(hash)s, 'customer', true
from generate_series(%(first)s::int, %(last)s::int) g
"""
_ACCOUNTS = """
insert into accounts (id, user_id, status, credit_limit, apr_bps, currency, billing_cycle_day,
                      opened_at, created_at)
select 'acct_bench' || lpad(g::text, 10, '0'), 'usr_bench' || lpad(g::text, 10, '0'), 'active',
       %(limit)s, 2499, 'USD', 1 + g %% 28, %(now)s, %(now)s
from generate_series(%(first)s::int, %(last)s::int) g
"""
_RECEIVABLES = """
insert into ledger_accounts (id, currency)
select 'acct_bench' || lpad(g::text, 10, '0') || ':receivable', 'USD'
from generate_series(%(first)s::int, %(last)s::int) g
"""


def seed_accounts(url: str, *, first: int, last: int) -> None:
    """Customers ``first..last`` (inclusive), each with an active account, receivable and card."""
    now = datetime.now(UTC)
    vault = CardVault(CARD_DATA_KEY)
    exp_month, exp_year = expiry_for(now.date())
    params = {
        "first": first,
        "last": last,
        "hash": hash_password(PASSWORD),
        "limit": CREDIT_LIMIT,
        "now": now,
    }
    with psycopg.connect(libpq_conninfo(url)) as conn:
        conn.execute(_USERS, params)
        conn.execute(_ACCOUNTS, params)
        conn.execute(_RECEIVABLES, params)
        with conn.cursor().copy(
            "copy cards (id, account_id, user_id, pan_ciphertext, pan_lookup_hash, last4, exp_month, "
            "exp_year, status, controls, created_at) from stdin"
        ) as copy:
            for i in range(first, last + 1):
                partial = f"{SANDBOX_BIN}{i:07d}"
                pan = partial + luhn_check_digit(partial)
                cid = card_id(i)
                copy.write_row(
                    (
                        cid,
                        account_id(i),
                        user_id(i),
                        vault.encrypt(pan, cid),
                        vault.lookup_hash(pan),
                        last4(pan),
                        exp_month,
                        exp_year,
                        "active",
                        "{}",
                        now,
                    )
                )
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        conn.execute("analyze users, accounts, ledger_accounts, cards")


_TRANSACTIONS = """
insert into transactions (id, account_id, card_id, type, status, amount, authorized_amount, currency,
                          merchant_name, merchant_mcc, merchant_country, created_at, posted_at)
select 'txn_bench' || lpad(g::text, 12, '0'),
       case when g %% %(every)s = 0 then %(target)s
            else 'acct_bench' || lpad((1 + g %% %(accounts)s)::text, 10, '0') end,
       case when g %% %(every)s = 0 then %(target_card)s
            else 'card_bench' || lpad((1 + g %% %(accounts)s)::text, 10, '0') end,
       'purchase', 'posted', 100 + g %% 9000, 100 + g %% 9000, 'USD',
       'Bench Merchant ' || g %% 500, '5411', 'US',
       %(now)s - make_interval(secs => (%(rows)s - g) * 31.5),
       %(now)s - make_interval(secs => (%(rows)s - g) * 31.5)
from generate_series(1, %(rows)s::int) g
"""


def seed_transactions(url: str, *, rows: int, accounts: int, target: int, every: int) -> None:
    """``rows`` posted purchases over a year; every ``every``-th is the target account's."""
    now = datetime.now(UTC)
    params = {
        "rows": rows,
        "accounts": accounts,
        "target": account_id(target),
        "target_card": card_id(target),
        "every": every,
        "now": now,
    }
    with psycopg.connect(libpq_conninfo(url)) as conn:
        conn.execute(_TRANSACTIONS, params)
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        conn.execute("vacuum analyze transactions")
