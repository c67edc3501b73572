"""Money: integer minor units with an ISO 4217 currency. Never floats."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StrictInt

# The largest amount a request may carry: PostgreSQL's bigint. Anything larger is a 422.
INT64_MAX = 2**63 - 1

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


PositiveAmount = Annotated[StrictInt, Field(ge=1, le=INT64_MAX, description="Minor units (cents).")]
NonNegativeAmount = Annotated[StrictInt, Field(ge=0, le=INT64_MAX, description="Minor units (cents).")]
Currency = Annotated[
    str,
    Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$", description="ISO 4217 code."),
    AfterValidator(_known_currency),
]
