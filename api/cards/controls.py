"""Spending controls on a card, in the manner of Stripe Issuing's.

A card's owner may block merchant category groups and merchant countries and
cap spending per authorization, per day and per month. The network's
authorization evaluates them before the credit check, inside its database
function (``network_authorize``, ``api/network/sql/``), given the merchant's group
from :func:`mcc_group`: a blocked group or country, an amount over the
per-authorization cap, or today's or this month's approved spending (holds
and clears, less reversals) plus this amount over its limit declines with
the one public code ``spending_control``; spending exactly up to a limit is
allowed.

Merchant category codes are ISO 18245's four digits. :data:`MCC_GROUPS` puts
the common ones into the groups a customer understands; any other code is in
group ``other``, which can be blocked too. :data:`TIPPING_MCCS` are the
categories where a clear may exceed its authorization by a tip (up to
:data:`TIP_TOLERANCE_BPS`); the network's clear (``network_resolve``,
``api/network/sql/``) enforces it.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.money import PositiveAmount

SPENDING_CONTROL = "spending_control"
ControlReason = Literal[
    "blocked_mcc_group", "blocked_country", "per_authorization_limit", "daily_limit", "monthly_limit"
]

MCC_PATTERN = r"^[0-9]{4}$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"
_MCC = re.compile(MCC_PATTERN)

# ISO 18245 merchant category codes by group. A code belongs to at most one
# group (the tests check it); whatever is listed nowhere is "other".
MCC_GROUPS: dict[str, frozenset[int]] = {
    "groceries": frozenset(
        # supermarkets; meat provisioners; confectioners; dairies; bakeries; misc. food stores
        {5411, 5422, 5441, 5451, 5462, 5499}
    ),
    "fuel": frozenset(
        # service stations; automated fuel dispensers; EV charging; fuel dealers (oil, wood, LPG)
        {5541, 5542, 5552, 5983}
    ),
    "restaurants": frozenset(
        # caterers; restaurants; bars; fast food
        {5811, 5812, 5813, 5814}
    ),
    "airlines": frozenset(
        # the airlines' own codes 3000-3299, then air carriers not listed there
        {*range(3000, 3300), 4511}
    ),
    "lodging": frozenset(
        # the hotel chains' own codes 3501-3999; hotels and resorts; timeshares; campgrounds
        {*range(3501, 4000), 7011, 7012, 7033}
    ),
    "travel": frozenset(
        # car rental chains 3351-3500; cruise lines; airports; travel agencies; tour
        # operators; car, truck and motor-home rental
        {*range(3351, 3501), 4411, 4582, 4722, 4723, 7512, 7513, 7519}
    ),
    "transport": frozenset(
        # commuter transport and ferries; passenger railways; taxis and limousines; bus lines;
        # tolls; transport services n.e.c.; parking
        {4111, 4112, 4121, 4131, 4784, 4789, 7523}
    ),
    "entertainment": frozenset(
        # cinemas; video rental; dance halls; theatre tickets; bands; billiards; bowling;
        # sports clubs; tourist attractions; golf; arcades; amusement parks; membership
        # clubs; aquariums; recreation n.e.c.
        {7832, 7841, 7911, 7922, 7929, 7932, 7933, 7941, 7991, 7992, 7993, 7994, 7996, 7997, 7998, 7999}
    ),
    "gambling": frozenset(
        # betting, casino chips, lottery tickets; government lotteries (US) and licensed
        # online casinos and racing (US); government lotteries (elsewhere)
        {7995, 7800, 7801, 7802, 9406}
    ),
    "cash_advance": frozenset(
        # wire transfers and money orders; manual and automated (ATM) cash; quasi-cash
        # (foreign currency, travellers cheques); stored-value loads
        {4829, 6010, 6011, 6051, 6540}
    ),
    "online_retail": frozenset(
        # direct marketing: catalogue; catalogue and retail; outbound and inbound
        # telemarketing; other direct marketing
        {5964, 5965, 5966, 5967, 5969}
    ),
    "subscriptions": frozenset(
        # cable, satellite and streaming; continuity/subscription merchants; digital goods
        # (media, games, applications, large digital goods merchants)
        {4899, 5968, 5815, 5816, 5817, 5818}
    ),
    "utilities": frozenset(
        # telecommunication services; computer network and information services; electric,
        # gas, water and sanitary utilities
        {4814, 4816, 4900}
    ),
    "healthcare": frozenset(
        # ambulances; pharmacies; hearing aids; orthopaedic goods; doctors; dentists;
        # osteopaths; chiropractors; optometrists; opticians; podiatrists; nursing care;
        # hospitals; medical labs; medical services n.e.c.
        {4119, 5912, 5975, 5976, 8011, 8021, 8031, 8041, 8042, 8043, 8049, 8050, 8062, 8071, 8099}
    ),
    "other": frozenset(),
}
OTHER_GROUP = "other"
_GROUP_OF: dict[int, str] = {code: group for group, codes in MCC_GROUPS.items() for code in codes}

# Categories where the clear may exceed the authorization by a tip, up to 20 %
# (the networks' usual tolerance for tip-adjusted categories): caterers,
# restaurants, bars, fast food, taxis and limousines, barbers and beauty salons,
# spas, massage parlours.
TIPPING_MCCS: frozenset[str] = frozenset({"5811", "5812", "5813", "5814", "4121", "7230", "7297", "7298"})
TIP_TOLERANCE_BPS = 2_000

# The ISO 3166-1 alpha-2 officially assigned codes (249). User-assigned codes
# such as XK are not accepted.
ISO_3166_ALPHA_2: frozenset[str] = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
    DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
    HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP
    KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ
    VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
    """.split()
)


def normalise_mcc(mcc: str) -> str:
    """The four-digit code, or ValueError."""
    if not isinstance(mcc, str) or not _MCC.fullmatch(mcc):
        raise ValueError("a merchant category code is four digits")
    return mcc


def normalise_country(country: str) -> str:
    """The upper-cased ISO 3166-1 alpha-2 code, or ValueError."""
    code = country.strip().upper() if isinstance(country, str) else ""
    if code not in ISO_3166_ALPHA_2:
        raise ValueError(f"{country!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def mcc_group(mcc: str) -> str:
    """The group of a merchant category code; ``other`` when no group lists it."""
    return _GROUP_OF.get(int(normalise_mcc(mcc)), OTHER_GROUP)


# Positive cents, exact integers only (no 10.5, no "100", no true).
LimitAmount = PositiveAmount


class SpendingControls(BaseModel):
    """A card's controls; the empty default blocks nothing and limits nothing."""

    model_config = ConfigDict(extra="forbid")

    # The enums make the OpenAPI document say exactly what is accepted.
    blocked_mcc_groups: list[Annotated[str, Field(json_schema_extra={"enum": sorted(MCC_GROUPS)})]] = Field(
        default_factory=list, max_length=len(MCC_GROUPS)
    )
    blocked_countries: list[
        Annotated[str, Field(pattern=COUNTRY_PATTERN, json_schema_extra={"enum": sorted(ISO_3166_ALPHA_2)})]
    ] = Field(default_factory=list, max_length=len(ISO_3166_ALPHA_2))
    per_authorization_limit: LimitAmount | None = None
    daily_limit: LimitAmount | None = None
    monthly_limit: LimitAmount | None = None

    @field_validator("blocked_mcc_groups")
    @classmethod
    def _known_groups(cls, groups: list[str]) -> list[str]:
        unknown = sorted(set(groups) - MCC_GROUPS.keys())
        if unknown:
            raise ValueError(f"unknown MCC groups {unknown}; known: {sorted(MCC_GROUPS)}")
        return list(dict.fromkeys(groups))  # without duplicates, in the caller's order

    @field_validator("blocked_countries")
    @classmethod
    def _iso_countries(cls, countries: list[str]) -> list[str]:
        unknown = sorted(set(countries) - ISO_3166_ALPHA_2)
        if unknown:
            raise ValueError(f"{unknown} are not ISO 3166-1 alpha-2 country codes (upper case)")
        return list(dict.fromkeys(countries))
