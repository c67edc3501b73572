"""Reconciliation of Stripe's PaymentIntents with the payments table and the ledger."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.payments.reconciliation import reconcile_payments
from cardportal import cli
from cardportal.settings import get_settings
from tests.api.payments.conftest import assert_balanced, count, payment_method
from tests.api.payments.test_webhooks import _confirmed_but_unapplied
from tests.factories import user_with_role


def _pay(api, holder, stripe_client, amount):
    response = api.post(
        f"/v1/accounts/{holder.account_id}/payments",
        json={"amount": amount, "payment_method": payment_method(stripe_client)},
        headers=holder.headers(),
    )
    assert response.status_code == 201
    return response.json()


def test_reconciliation_records_planted_mismatches_and_repairs_nothing(
    api, session: Session, app, make_holder, stripe_client
):
    holder = make_holder(balance=20_000)
    clean = _pay(api, holder, stripe_client, 1_000)
    short = _pay(api, holder, stripe_client, 2_000)
    # Planted: the payments table says another amount than Stripe charged.
    session.execute(text("update payments set amount = 1999 where id = :id"), {"id": short["id"]})
    # Planted: a request that died after Stripe confirmed, and a webhook that never came.
    lost_id, lost_intent = _confirmed_but_unapplied(session, app, holder, stripe_client, 3_000)
    # Planted: a PaymentIntent in our Stripe account that no payment records.
    customer = session.execute(text("select stripe_customer_id from stripe_customers")).scalar_one()
    stray = stripe_client.v1.payment_intents.create(
        params={
            "amount": 700,
            "currency": "usd",
            "customer": customer,
            "payment_method": payment_method(stripe_client),
            "payment_method_types": ["card"],  # type: ignore[typeddict-unknown-key]
        }
    )
    session.commit()

    now = app.state.clock.now()
    result = reconcile_payments(session, day=now.date(), now=now, client=stripe_client)
    session.commit()
    found = {(m.stripe_id, m.kind): (m.expected, m.actual) for m in result.mismatches}
    assert found == {
        (short["stripe_payment_intent_id"], "amount_differs"): ("2000", "1999"),
        (lost_intent, "status_differs"): ("succeeded", "pending"),
        (lost_intent, "missing_in_ledger"): ("3000", None),
        (stray.id, "missing_in_payments"): ("requires_confirmation", None),
    }
    assert clean["stripe_payment_intent_id"] not in {m.stripe_id for m in result.mismatches}
    assert result.recorded == 4

    # Nothing repaired: the lost payment is still pending and unposted.
    assert (
        session.execute(text("select status from payments where id = :id"), {"id": lost_id}).scalar()
        == "pending"
    )
    assert count(session, "select count(*) from payment_postings") == 2

    # A rerun records nothing twice.
    again = reconcile_payments(session, day=now.date(), now=now, client=stripe_client)
    session.commit()
    assert again.recorded == 0
    assert count(session, "select count(*) from payment_exceptions") == 4

    admin = user_with_role(api, session, "admin")
    listed = api.get("/v1/admin/payment-exceptions", headers=admin.headers)
    assert listed.status_code == 200
    rows = listed.json()["data"]
    assert {(r["stripe_id"], r["kind"]) for r in rows} == set(found)
    assert all(
        set(r) >= {"id", "payment_id", "stripe_id", "kind", "expected", "actual", "created_at"} for r in rows
    )
    assert api.get("/v1/admin/payment-exceptions", headers=holder.user.headers).status_code == 403
    assert_balanced(session)


def test_the_cli_reconciles_a_day(
    api,
    session: Session,
    app,
    make_holder,
    stripe_client,
    stripe_sandbox,
    database_url,
    home,
    monkeypatch,
    capsys,
):
    holder = make_holder(balance=5_000)
    _, lost_intent = _confirmed_but_unapplied(session, app, holder, stripe_client, 1_500)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CARDPORTAL_HOME", str(home))
    monkeypatch.setenv("STRIPE_API_BASE", stripe_sandbox.url)
    monkeypatch.setenv("FIRST_ADMIN_EMAIL", "ops-admin@example.com")
    get_settings.cache_clear()
    try:
        day = app.state.clock.now().date().isoformat()
        assert cli.main(["ops", "reconcile-payments", "--date", day]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert f"reconciled {day}" in out
    assert "missing_in_ledger" in out
    assert lost_intent in out
    assert count(session, "select count(*) from payment_exceptions where kind = 'missing_in_ledger'") == 1
    assert_balanced(session)
