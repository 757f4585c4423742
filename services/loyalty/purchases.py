"""Gift cards bought online: the buyer pays on the payment provider's page; the provider's signed
notice decides the purchase once. A paid purchase sells a new virtual card to the member it is for
(the buyer or the member whose card she named), which emails it to her with its PIN; a refused one
issues nothing. The same notice twice, or a late one, changes nothing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from libs.common.errors import Invalid
from libs.common.payments import Notice, PaymentProvider, StartPayment
from services.loyalty import giftcards
from services.loyalty.store import Db

PurchaseStatus = Literal["pending", "succeeded", "failed"]


class Purchase(BaseModel):
    model_config = ConfigDict(frozen=True)

    purchase_id: uuid.UUID = Field(description="Ours; the provider's notices name it")
    buyer_id: str = Field(description="Who pays")
    owner_id: str = Field(description="Whom the card is for: the buyer or another member")
    amount_minor: int = Field(description="What the card will hold, and what is paid")
    currency: str = Field(description="ISO 4217")
    status: PurchaseStatus = Field(
        description="pending until the provider's notice, then succeeded or failed"
    )
    failure_reason: str | None = Field(description="Why the payment failed, as the provider said")
    card_id: uuid.UUID | None = Field(description="The card issued once paid")
    created_at: datetime = Field(description="When it was started (UTC)")
    updated_at: datetime = Field(description="When it last changed (UTC)")


_COLUMNS = (
    "purchase_id, buyer_id, owner_id, amount_minor, currency, status, failure_reason, card_id, created_at,"
    " updated_at"
)
_ADD = f"""
INSERT INTO gift_card_purchases (tenant_id, provider_payment_id, {_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""
_FIND = f"SELECT tenant_id, {_COLUMNS} FROM gift_card_purchases WHERE purchase_id = $1"
_DECIDE = f"""
UPDATE gift_card_purchases SET status = $2, failure_reason = $3, card_id = $4, updated_at = $5
WHERE purchase_id = $1 RETURNING {_COLUMNS}
"""


async def start(
    conn: asyncpg.Connection,
    provider: PaymentProvider,
    tenant_id: str,
    buyer_id: str,
    owner_id: str,
    amount_minor: int,
    currency: str,
    *,
    callback_url: str,
    return_url: str,
    at: datetime,
) -> tuple[Purchase, str]:
    """A pending purchase and the provider's page where the buyer pays (PaymentError when the
    provider cannot be reached: then nothing is recorded)."""
    purchase = Purchase(
        purchase_id=uuid.uuid4(),
        buyer_id=buyer_id,
        owner_id=owner_id,
        amount_minor=amount_minor,
        currency=currency,
        status="pending",
        failure_reason=None,
        card_id=None,
        created_at=at,
        updated_at=at,
    )
    started = await provider.start(
        StartPayment(
            amount_minor=amount_minor,
            currency=currency,
            reference=str(purchase.purchase_id),
            description="Gift card",
            callback_url=callback_url,
            return_url=return_url,
        )
    )
    await conn.execute(_ADD, tenant_id, started.payment_id, *purchase.model_dump().values())
    return purchase, started.redirect_url


async def find(db: Db, purchase_id: uuid.UUID, *, for_update: bool = False) -> tuple[str, Purchase] | None:
    """The purchase with its tenant."""
    row = await db.fetchrow(_FIND + (" FOR UPDATE" if for_update else ""), purchase_id)
    if row is None:
        return None
    values = dict(row)
    return values.pop("tenant_id"), Purchase(**values)


async def decide(conn: asyncpg.Connection, notice: Notice, at: datetime) -> Purchase | None:
    """Apply a verified notice to its purchase, once (the row locked): paid, the card is sold to
    its owner; refused, nothing is issued. None: no such purchase (yet)."""
    try:
        purchase_id = uuid.UUID(notice.reference)
    except ValueError:
        return None
    found = await find(conn, purchase_id, for_update=True)
    if found is None:
        return None
    tenant_id, purchase = found
    if purchase.status != "pending":
        return purchase
    if (notice.amount_minor, notice.currency) != (purchase.amount_minor, purchase.currency):
        raise Invalid.field("amount_minor", "the notice's amount is not the purchase's", "amount-mismatch")
    if notice.status == "failed":
        row = await conn.fetchrow(_DECIDE, purchase_id, "failed", notice.reason or "refused", None, at)
        return Purchase(**dict(row))
    card, _ = await giftcards.sell(
        conn,
        tenant_id,
        purchase.amount_minor,
        purchase.currency,
        None,
        purchase.buyer_id,
        at,
        owner_id=purchase.owner_id,
        online=True,
    )
    row = await conn.fetchrow(_DECIDE, purchase_id, "succeeded", None, card.card_id, at)
    return Purchase(**dict(row))
