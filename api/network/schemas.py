from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import RowMapping

from api.cards.controls import ISO_3166_ALPHA_2
from api.ids import ID_PATTERN
from api.money import Currency, PositiveAmount

ObjectId = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]


class MerchantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # No control characters: a NUL byte cannot be stored in PostgreSQL text at all.
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    mcc: str = Field(pattern=r"^[0-9]{4}$", description="ISO 18245 merchant category code.")
    country: str = Field("US", pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")

    @field_validator("country")
    @classmethod
    def _iso_country(cls, value: str) -> str:
        if value not in ISO_3166_ALPHA_2:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
        return value


class AuthorizationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    card_id: ObjectId
    amount: PositiveAmount
    currency: Currency = "USD"
    merchant: MerchantIn


class ClearIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: PositiveAmount


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    card_id: ObjectId
    amount: PositiveAmount
    currency: Currency = "USD"
    merchant: MerchantIn
    authorization_id: ObjectId | None = None


class AuthorizationOut(BaseModel):
    id: str
    approved: bool
    decline_code: str | None
    available_credit: int
    amount: int
    currency: str
    status: Literal["pending", "declined"]
    card_id: str
    account_id: str
    created_at: datetime


class MerchantOut(BaseModel):
    name: str
    mcc: str
    country: str | None = None


class TransactionOut(BaseModel):
    id: str
    account_id: str
    card_id: str | None
    # ``charge_off``: only in an account's history (the balance written off; api.accounts.service).
    # ``recovery``, ``recovery_return``: what reached a charged-off account (api.billing.recoveries).
    type: Literal[
        "purchase",
        "refund",
        "payment",
        "interest",
        "fee",
        "reversal",
        "charge_off",
        "recovery",
        "recovery_return",
    ]
    status: Literal["pending", "posted", "declined", "reversed"]
    amount: int
    currency: str
    authorized_amount: int | None
    merchant: MerchantOut | None
    decline_code: str | None
    closed_reason: str | None
    original_transaction_id: str | None
    refunded_amount: int
    created_at: datetime
    posted_at: datetime | None

    @classmethod
    def of(cls, txn: object) -> TransactionOut:
        from api.network.models import Transaction

        assert isinstance(txn, Transaction)
        merchant = (
            MerchantOut(name=txn.merchant_name, mcc=txn.merchant_mcc or "", country=txn.merchant_country)
            if txn.merchant_name is not None
            else None
        )
        return cls(
            id=txn.id,
            account_id=txn.account_id,
            card_id=txn.card_id,
            type=txn.type,
            status=txn.status,
            amount=txn.amount,
            currency=txn.currency,
            authorized_amount=txn.authorized_amount,
            merchant=merchant,
            decline_code=txn.decline_code,
            closed_reason=txn.closed_reason,
            original_transaction_id=txn.original_transaction_id,
            refunded_amount=txn.refunded_amount,
            created_at=txn.created_at,
            posted_at=txn.posted_at,
        )


def transaction_out_dict(row: RowMapping | Mapping[str, Any]) -> dict[str, Any]:
    """``TransactionOut`` as a plain dict, from a row of the transactions table.

    For history pages: fifty pydantic models per page cost more than the query
    (profiled), and the row's values are already checked by the table's
    constraints. ``pydantic_core.to_json`` of this dict gives the same bytes as
    ``TransactionOut.of(…).model_dump_json()`` (a test compares them).
    """
    return {
        "id": row["id"],
        "account_id": row["account_id"],
        "card_id": row["card_id"],
        "type": row["type"],
        "status": row["status"],
        "amount": row["amount"],
        "currency": row["currency"],
        "authorized_amount": row["authorized_amount"],
        "merchant": (
            {
                "name": row["merchant_name"],
                "mcc": row["merchant_mcc"] or "",
                "country": row["merchant_country"],
            }
            if row["merchant_name"] is not None
            else None
        ),
        "decline_code": row["decline_code"],
        "closed_reason": row["closed_reason"],
        "original_transaction_id": row["original_transaction_id"],
        "refunded_amount": row["refunded_amount"],
        "created_at": row["created_at"],
        "posted_at": row["posted_at"],
    }
