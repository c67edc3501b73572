from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from api.cards.controls import (
    ISO_3166_ALPHA_2,
    MCC_GROUPS,
    SPENDING_CONTROL,
    TIPPING_MCCS,
    SpendingControls,
    mcc_group,
    normalise_country,
)
from api.cards.models import Card as CardRow
from api.errors import UnprocessableEntity
from api.ids import new_id
from api.network import service as network
from api.network.models import Transaction
from tests.factories import open_card_account

EXPECTED_GROUPS = {
    "groceries",
    "fuel",
    "restaurants",
    "travel",
    "airlines",
    "lodging",
    "entertainment",
    "gambling",
    "cash_advance",
    "online_retail",
    "subscriptions",
    "utilities",
    "transport",
    "healthcare",
    "other",
}


# --- the groups -----------------------------------------------------------------


def test_the_groups_are_the_documented_ones():
    assert set(MCC_GROUPS) == EXPECTED_GROUPS


def test_no_code_is_in_two_groups_and_all_are_four_digits():
    seen: dict[int, str] = {}
    for group, codes in MCC_GROUPS.items():
        for code in codes:
            assert 0 <= code <= 9999
            assert code not in seen, f"{code} is in {seen.get(code)} and {group}"
            seen[code] = group


@pytest.mark.parametrize(
    ("mcc", "group"),
    [
        ("5411", "groceries"),
        ("5541", "fuel"),
        ("5542", "fuel"),
        ("5812", "restaurants"),
        ("5813", "restaurants"),
        ("5814", "restaurants"),
        ("3000", "airlines"),
        ("3299", "airlines"),
        ("4511", "airlines"),
        ("3501", "lodging"),
        ("3999", "lodging"),
        ("7011", "lodging"),
        ("3351", "travel"),
        ("4722", "travel"),
        ("7995", "gambling"),
        ("6010", "cash_advance"),
        ("6011", "cash_advance"),
        ("4121", "transport"),
        ("4900", "utilities"),
        ("4899", "subscriptions"),
        ("5964", "online_retail"),
        ("7832", "entertainment"),
        ("8011", "healthcare"),
        ("5912", "healthcare"),
        ("5999", "other"),
        ("0742", "other"),
        ("0000", "other"),
    ],
)
def test_mcc_group(mcc, group):
    assert mcc_group(mcc) == group


@pytest.mark.parametrize("mcc", ["541", "54111", "54a1", "", " 5411", "\uff15411", "-541"])
def test_a_malformed_mcc_is_refused(mcc):
    with pytest.raises(ValueError, match="four digits"):
        mcc_group(mcc)


def test_tipping_categories_are_restaurants_taxis_and_beauty():
    assert {"5812", "5813", "5814", "4121", "7230"} <= TIPPING_MCCS
    assert all(len(mcc) == 4 and mcc.isdigit() for mcc in TIPPING_MCCS)
    assert "5411" not in TIPPING_MCCS


@pytest.mark.parametrize(
    ("hold", "mcc", "most"), [(100_00, "5812", 120_00), (99, "4121", 118), (100_00, "5411", 100_00)]
)
def test_a_clear_may_add_a_20_percent_tip(card: Card, hold: int, mcc: str, most: int) -> None:
    """The ceiling ``network_resolve`` applies: the hold, plus 20 % in tipping categories."""
    session = card.session
    savepoint = session.begin_nested()
    try:
        authorization = network.authorize(
            session,
            card_id=card.card_id,
            amount=hold,
            currency="USD",
            merchant_name="Shop",
            merchant_mcc=mcc,
            merchant_country="US",
            now=NOW,
        ).transaction.id
        with pytest.raises(UnprocessableEntity) as refused:
            network.clear(session, authorization_id=authorization, amount=most + 1, now=NOW)
        assert refused.value.code == "clear_exceeds_authorization"
        assert refused.value.extra == {"max_amount": most}
        assert network.clear(session, authorization_id=authorization, amount=most, now=NOW).amount == most
    finally:
        savepoint.rollback()


# --- the model ------------------------------------------------------------------


def test_empty_controls_block_nothing():
    controls = SpendingControls()
    assert controls.model_dump() == {
        "blocked_mcc_groups": [],
        "blocked_countries": [],
        "per_authorization_limit": None,
        "daily_limit": None,
        "monthly_limit": None,
    }


def test_countries_are_canonical_and_duplicates_dropped():
    controls = SpendingControls(
        blocked_countries=["RU", "KP", "IR", "RU"], blocked_mcc_groups=["gambling"] * 2
    )
    assert controls.blocked_countries == ["RU", "KP", "IR"]
    assert controls.blocked_mcc_groups == ["gambling"]
    # The contract names upper-case ISO codes; anything else is refused, not guessed at.
    for near_miss in ("ru", " IR "):
        with pytest.raises(ValidationError):
            SpendingControls(blocked_countries=[near_miss])


def test_the_json_body_validates():
    body = '{"blocked_mcc_groups": ["gambling", "cash_advance"], "blocked_countries": ["FR"], '
    body += '"daily_limit": 500}'
    controls = SpendingControls.model_validate_json(body)
    assert controls.blocked_countries == ["FR"]
    assert controls.daily_limit == 500


@pytest.mark.parametrize(
    "body",
    [
        {"blocked_mcc_groups": ["casinos"]},
        {"blocked_mcc_groups": ["Gambling"]},
        {"blocked_countries": ["XX"]},
        {"blocked_countries": ["USA"]},
        {"blocked_countries": ["XK"]},
        {"blocked_countries": [""]},
        {"blocked_countries": [1]},
        {"per_authorization_limit": 0},
        {"daily_limit": -1},
        {"monthly_limit": 10.5},
        {"monthly_limit": 2**53},
        {"daily_limit": "100"},
        {"daily_limit": True},
        {"daily_limit": 2**63},
        {"weekly_limit": 100},
    ],
)
def test_bad_controls_are_refused(body):
    with pytest.raises(ValidationError):
        SpendingControls.model_validate(body)


def test_the_country_list_is_iso_3166_1():
    assert len(ISO_3166_ALPHA_2) == 249
    assert {"US", "GB", "DE", "FR", "JP", "BR", "SS", "CW", "AX"} <= ISO_3166_ALPHA_2
    assert normalise_country("gb") == "GB"
    with pytest.raises(ValueError, match="ISO 3166"):
        normalise_country("UK")


# --- evaluation: the authorization's own function (api/network/sql/) -------------
#
# The controls are evaluated inside ``network_authorize`` with the rest of the
# authorization; these tests call it through ``network.service.authorize`` on one
# card, each case in a savepoint that is rolled back.

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
EARLIER_THIS_MONTH = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@dataclass
class Card:
    session: Session
    account_id: str
    card_id: str


@pytest.fixture
def card(session: Session, app: Any) -> Card:
    _, account_id, card_id = open_card_account(session, app, credit_limit=10**12)
    return Card(session, account_id, card_id)


def check(
    card: Card,
    controls: SpendingControls,
    *,
    spent_today: int = 0,
    spent_this_month: int = 0,
    **overrides: Any,
) -> str | None:
    """The decline code of one authorization under ``controls``, after the given spending."""
    values: dict[str, Any] = {"amount": 50_00, "mcc": "5411", "country": "US"}
    values.update(overrides)
    session = card.session
    savepoint = session.begin_nested()
    try:
        session.execute(
            update(CardRow)
            .where(CardRow.id == card.card_id)
            .values(controls=controls.model_dump(mode="json"))
        )
        earlier = spent_this_month - spent_today
        for amount, when in ((spent_today, NOW), (earlier, EARLIER_THIS_MONTH)):
            if amount > 0:
                session.execute(
                    insert(Transaction).values(
                        id=new_id("auth"),
                        account_id=card.account_id,
                        card_id=card.card_id,
                        type="purchase",
                        status="posted",
                        amount=amount,
                        authorized_amount=amount,
                        currency="USD",
                        refunded_amount=0,
                        created_at=when,
                    )
                )
        result = network.authorize(
            session,
            card_id=card.card_id,
            amount=values["amount"],
            currency="USD",
            merchant_name="Shop",
            merchant_mcc=values["mcc"],
            merchant_country=values["country"],
            now=NOW,
        )
        return result.decline_code
    finally:
        savepoint.rollback()


def test_nothing_set_allows_everything(card: Card) -> None:
    assert check(card, SpendingControls(), amount=5_000_000, mcc="7995", country="KP") is None


def test_a_blocked_group_declines(card: Card) -> None:
    assert check(card, SpendingControls(blocked_mcc_groups=["gambling"]), mcc="7995") == SPENDING_CONTROL
    assert check(card, SpendingControls(blocked_mcc_groups=["gambling"]), mcc="5411") is None


def test_other_can_be_blocked(card: Card) -> None:
    assert check(card, SpendingControls(blocked_mcc_groups=["other"]), mcc="5999") == SPENDING_CONTROL


def test_a_blocked_country_declines(card: Card) -> None:
    assert check(card, SpendingControls(blocked_countries=["RU"]), country="RU") == SPENDING_CONTROL


@pytest.mark.parametrize(("amount", "code"), [(100_00, None), (100_01, SPENDING_CONTROL)])
def test_the_per_authorization_limit_allows_exactly_the_limit(
    card: Card, amount: int, code: str | None
) -> None:
    assert check(card, SpendingControls(per_authorization_limit=100_00), amount=amount) == code


@pytest.mark.parametrize(
    ("spent", "amount", "code"),
    [(400_00, 100_00, None), (400_00, 100_01, SPENDING_CONTROL), (0, 500_01, SPENDING_CONTROL)],
)
def test_the_daily_limit_counts_what_was_already_spent(
    card: Card, spent: int, amount: int, code: str | None
) -> None:
    controls = SpendingControls(daily_limit=500_00)
    assert check(card, controls, amount=amount, spent_today=spent, spent_this_month=spent) == code


def test_the_daily_limit_ignores_earlier_days(card: Card) -> None:
    controls = SpendingControls(daily_limit=500_00)
    assert check(card, controls, amount=500_00, spent_today=0, spent_this_month=400_00) is None


def test_the_monthly_limit_counts_the_month(card: Card) -> None:
    controls = SpendingControls(monthly_limit=1_000_00, daily_limit=5_000_00)
    assert check(card, controls, amount=100_00, spent_this_month=900_00) is None
    assert check(card, controls, amount=100_00, spent_this_month=900_01) == SPENDING_CONTROL


def test_a_control_decline_comes_before_the_credit_check(card: Card) -> None:
    controls = SpendingControls(blocked_mcc_groups=["groceries"], per_authorization_limit=1)
    assert check(card, controls, amount=10**13) == "amount_too_large"
    assert check(card, controls) == SPENDING_CONTROL


# --- the model of the rules -----------------------------------------------------

limits = st.none() | st.integers(min_value=1, max_value=10_000_00)
controls_strategy = st.builds(
    SpendingControls,
    blocked_mcc_groups=st.lists(st.sampled_from(sorted(MCC_GROUPS)), max_size=4),
    blocked_countries=st.lists(st.sampled_from(sorted(ISO_3166_ALPHA_2)), max_size=4),
    per_authorization_limit=limits,
    daily_limit=limits,
    monthly_limit=limits,
)
mccs = st.sampled_from(["5411", "5812", "7995", "6011", "4121", "3100", "5999"]) | st.from_regex(
    r"[0-9]{4}", fullmatch=True
)
countries = st.sampled_from(["US", "GB", "RU", "FR"]) | st.sampled_from(sorted(ISO_3166_ALPHA_2))


def model_allows(controls, amount, mcc, country, spent_today, spent_this_month) -> bool:
    """The rules said plainly: every blocked thing blocks, every limit holds after this spend."""
    group = next((name for name, codes in MCC_GROUPS.items() if int(mcc) in codes), "other")
    within = [
        (controls.per_authorization_limit, amount),
        (controls.daily_limit, spent_today + amount),
        (controls.monthly_limit, spent_this_month + amount),
    ]
    return (
        group not in controls.blocked_mcc_groups
        and country not in controls.blocked_countries
        and all(limit is None or total <= limit for limit, total in within)
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    controls_strategy,
    st.integers(min_value=1, max_value=20_000_00),
    mccs,
    countries,
    st.integers(min_value=0, max_value=20_000_00),
    st.integers(min_value=0, max_value=30_000_00),
)
def test_evaluation_matches_the_model(
    card: Card,
    controls: SpendingControls,
    amount: int,
    mcc: str,
    country: str,
    spent_today: int,
    earlier: int,
) -> None:
    code = check(
        card,
        controls,
        amount=amount,
        mcc=mcc,
        country=country,
        spent_today=spent_today,
        spent_this_month=spent_today + earlier,
    )
    allowed = model_allows(controls, amount, mcc, country, spent_today, spent_today + earlier)
    assert code == (None if allowed else SPENDING_CONTROL)


@given(controls_strategy)
def test_controls_survive_a_json_round_trip(controls):
    assert SpendingControls.model_validate_json(controls.model_dump_json()) == controls
