from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from api.cards.controls import (
    ISO_3166_ALPHA_2,
    MCC_GROUPS,
    SPENDING_CONTROL,
    TIPPING_MCCS,
    SpendingControls,
    evaluate,
    max_clear_amount,
    mcc_group,
    normalise_country,
)

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


def check(controls: SpendingControls, **overrides: object):
    values: dict[str, object] = {
        "amount": 50_00,
        "mcc": "5411",
        "country": "US",
        "spent_today": 0,
        "spent_this_month": 0,
    }
    values.update(overrides)
    return evaluate(controls, **values)  # type: ignore[arg-type]


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
def test_max_clear_amount_allows_a_20_percent_tip(hold, mcc, most):
    assert max_clear_amount(hold, mcc) == most


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


# --- evaluation -----------------------------------------------------------------


def test_nothing_set_allows_everything():
    assert check(SpendingControls(), amount=10**12, mcc="7995", country="KP") is None


def test_a_blocked_group_declines():
    result = check(SpendingControls(blocked_mcc_groups=["gambling"]), mcc="7995")
    assert result is not None
    assert result.code == SPENDING_CONTROL
    assert result.reason == "blocked_mcc_group"
    assert "7995" in result.detail
    assert check(SpendingControls(blocked_mcc_groups=["gambling"]), mcc="5411") is None


def test_other_can_be_blocked():
    result = check(SpendingControls(blocked_mcc_groups=["other"]), mcc="5999")
    assert result is not None
    assert result.reason == "blocked_mcc_group"


def test_a_blocked_country_declines_whatever_its_case():
    result = check(SpendingControls(blocked_countries=["RU"]), country="ru")
    assert result is not None
    assert result.reason == "blocked_country"


@pytest.mark.parametrize(("amount", "reason"), [(100_00, None), (100_01, "per_authorization_limit")])
def test_the_per_authorization_limit_allows_exactly_the_limit(amount, reason):
    result = check(SpendingControls(per_authorization_limit=100_00), amount=amount)
    assert (result.reason if result else None) == reason


@pytest.mark.parametrize(
    ("spent", "amount", "reason"),
    [(400_00, 100_00, None), (400_00, 100_01, "daily_limit"), (0, 500_01, "daily_limit")],
)
def test_the_daily_limit_counts_what_was_already_spent(spent, amount, reason):
    result = check(SpendingControls(daily_limit=500_00), amount=amount, spent_today=spent)
    assert (result.reason if result else None) == reason


def test_the_monthly_limit_counts_the_month():
    controls = SpendingControls(monthly_limit=1_000_00, daily_limit=5_000_00)
    assert check(controls, amount=100_00, spent_this_month=900_00) is None
    result = check(controls, amount=100_00, spent_this_month=900_01)
    assert result is not None
    assert result.reason == "monthly_limit"


def test_the_first_broken_control_is_reported():
    controls = SpendingControls(
        blocked_mcc_groups=["groceries"], blocked_countries=["US"], per_authorization_limit=1
    )
    result = check(controls)
    assert result is not None
    assert result.reason == "blocked_mcc_group"


@pytest.mark.parametrize(
    "overrides",
    [
        {"amount": 0},
        {"amount": -1},
        {"spent_today": -1},
        {"spent_this_month": -1},
        {"mcc": "54"},
        {"country": "ZZ"},
    ],
)
def test_evaluate_refuses_malformed_input(overrides):
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by input
        check(SpendingControls(), **overrides)


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


@given(
    controls_strategy,
    st.integers(min_value=1, max_value=20_000_00),
    mccs,
    countries,
    st.integers(min_value=0, max_value=20_000_00),
    st.integers(min_value=0, max_value=50_000_00),
)
def test_evaluation_matches_the_model(controls, amount, mcc, country, spent_today, spent_this_month):
    result = evaluate(
        controls,
        amount=amount,
        mcc=mcc,
        country=country.lower(),
        spent_today=spent_today,
        spent_this_month=spent_this_month,
    )
    assert (result is None) == model_allows(controls, amount, mcc, country, spent_today, spent_this_month)
    if result is not None:
        assert result.code == SPENDING_CONTROL


@given(controls_strategy)
def test_controls_survive_a_json_round_trip(controls):
    assert SpendingControls.model_validate_json(controls.model_dump_json()) == controls
