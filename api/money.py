"""Money: integer minor units with an ISO 4217 currency. Never floats."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

# The largest amount a request may carry: 2**53 - 1 cents (about $90 trillion), the
# largest integer a JSON number holds exactly in every client (JavaScript's
# Number.MAX_SAFE_INTEGER), and well inside PostgreSQL's bigint. Larger is a 422.
MAX_AMOUNT = 2**53 - 1

# Active ISO 4217 codes: a code outside this list is bad input (422); a real
# currency we do not issue in is a business answer (a decline), not an error.
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
    KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK
    MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
    SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL
    """.split()
)

ISSUING_CURRENCIES = frozenset({"USD"})


def _known_currency(value: str) -> str:
    if value not in ISO_4217:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


def _whole_number(value: object) -> object:
    """An integer, or a JSON number with no fraction (``100.0``, which JSON Schema calls an
    integer); never a string, a boolean or a fraction of a cent."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_AMOUNT:
        return int(value)
    return value


PositiveAmount = Annotated[
    int,
    Field(strict=True, ge=1, le=MAX_AMOUNT, description="Minor units (cents)."),
    BeforeValidator(_whole_number),
]
NonNegativeAmount = Annotated[
    int,
    Field(strict=True, ge=0, le=MAX_AMOUNT, description="Minor units (cents)."),
    BeforeValidator(_whole_number),
]
Currency = Annotated[
    str,
    Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$", description="ISO 4217 code."),
    AfterValidator(_known_currency),
]
