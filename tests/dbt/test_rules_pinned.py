"""The rules the warehouse must compute as the API does, where a SQL copy beside Python must stay.

dbt cannot import Python, so one rule has a copy in a dbt macro: the sign of each transaction
type on what the customer owes (``api.billing.rules.BALANCE_SIGN``, macro ``balance_sign``). The
macro is rendered as dbt renders it (Jinja) and evaluated by PostgreSQL on every case the Python
rule distinguishes, and the answers must be the same. (The delinquency bucket had a macro too;
the warehouse now reads the bucket the daily job recorded, ``raw.delinquency_days``.)
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.billing import rules
from api.network.models import TRANSACTION_TYPES

MACROS = Path(__file__).resolve().parents[2] / "dbt" / "macros"


def render(macro: str, argument: str) -> str:
    """``{{ macro(argument) }}`` as dbt compiles it, from ``dbt/macros/<macro>.sql``."""
    environment = jinja2.Environment(
        loader=jinja2.DictLoader({"macros": (MACROS / f"{macro}.sql").read_text()}),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    template = environment.from_string(f"{{% import 'macros' as m %}}{{{{ m.{macro}({argument!r}) }}}}")
    return template.render()


def test_each_transaction_types_sign_is_the_same_in_dbt(session: Session) -> None:
    assert set(rules.BALANCE_SIGN) == set(TRANSACTION_TYPES)
    cases = [*TRANSACTION_TYPES, "an_unknown_type"]
    in_sql = session.execute(
        text(f"select t, {render('balance_sign', 't')} from unnest(cast(:types as text[])) as t"),
        {"types": cases},
    ).all()
    assert dict(in_sql) == {t: rules.BALANCE_SIGN.get(t, 0) for t in cases}
    assert rules.DEBIT_TYPES == {t for t, sign in rules.BALANCE_SIGN.items() if sign > 0}
    assert rules.CREDIT_TYPES == {t for t, sign in rules.BALANCE_SIGN.items() if sign < 0}

