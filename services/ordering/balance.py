"""The account balance: money a buyer tops up by card through the payment provider and spends on her
orders (the payment mode `account_balance`), refunded to it when an order paid so is refused or
cancelled (less the tenant's cancellation costs once it was confirmed).

The ledger is append-only: one entry per kind and source (a payment, an order), so an entry is never
posted twice whatever is retried. `post` moves the balance and writes the entry under the balance's
row lock: of two spends racing for the same money one wins, and no balance goes below zero or above
`MAX_BALANCE`. Every entry is announced on ordering.balance.v1.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from libs.common import outbox
from libs.common.errors import Conflict, Invalid
from libs.common.limits import MAX_BALANCE
from libs.common.payments import PaymentProvider
from services.ordering import payments
from services.ordering.checkout import CheckoutSettings
from services.ordering.domain import Order
from services.ordering.events import SERVICE, BalanceCredited, BalanceDebited
from services.ordering.payments import Payment

EntryKind = Literal["top_up", "spend", "refund", "return"]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True)


class BalanceEntry(_Value):
    entry_id: uuid.UUID = Field(description="The entry's id")
    account_id: str = Field(description="Whose balance")
    kind: EntryKind = Field(
        description="top_up (a card payment), spend (an order), refund (of an order), return (goods back)"
    )
    amount_minor: int = Field(description="What it moved: positive credits, negative debits")
    balance_after_minor: int = Field(description="The balance after it")
    currency: str = Field(description="ISO 4217 currency of the balance")
    source: str = Field(
        description="What caused it: the payment or the order (one entry per kind and source)"
    )
    order_id: uuid.UUID | None = Field(description="The order it paid or refunded")
    costs_minor: int = Field(description="Cancellation costs kept back from a refund")
    created_at: datetime = Field(description="When (UTC)")


class InsufficientBalance(Conflict):
    def __init__(self, balance_minor: int, needed_minor: int) -> None:
        super().__init__(
            "insufficient-balance",
            "The balance is too low",
            f"the balance is {balance_minor}, {needed_minor} is needed",
            extensions={"balance_minor": balance_minor, "needed_minor": needed_minor},
        )


def over_limit(field: str, balance_minor: int) -> Invalid:
    return Invalid.field(
        field,
        f"a balance holds at most {MAX_BALANCE} minor units (it holds {balance_minor})",
        "balance-limit",
    )


def cancellation_costs(paid_minor: int, settings: CheckoutSettings) -> int:
    """What the tenant keeps of `paid_minor` when a confirmed order is cancelled: its fixed costs plus
    its percentage (rounded half up), never more than was paid."""
    percent = (paid_minor * settings.cancellation_costs_bp + 5_000) // 10_000
    return min(paid_minor, settings.cancellation_costs_minor + percent)


# --- the ledger ---

_OPEN = """
INSERT INTO balances (tenant_id, account_id, balance_minor, currency, updated_at) VALUES ($1, $2, 0, $3, $4)
ON CONFLICT (tenant_id, account_id) DO NOTHING
"""
_LOCK = "SELECT balance_minor, currency FROM balances WHERE tenant_id = $1 AND account_id = $2 FOR UPDATE"
_POSTED = "SELECT entry_id FROM balance_entries WHERE tenant_id = $1 AND kind = $2 AND source = $3"
_MOVE = """
UPDATE balances SET balance_minor = $3, currency = $4, updated_at = $5
WHERE tenant_id = $1 AND account_id = $2
"""
_ENTRY_COLUMNS = (
    "entry_id, account_id, kind, amount_minor, balance_after_minor, currency, source, order_id, costs_minor,"
    " created_at"
)
_ADD_ENTRY = f"""
INSERT INTO balance_entries (tenant_id, {_ENTRY_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""


async def post(
    conn: asyncpg.Connection,
    tenant_id: str,
    account_id: str,
    kind: EntryKind,
    amount_minor: int,
    currency: str,
    source: str,
    at: datetime,
    *,
    order_id: uuid.UUID | None = None,
    costs_minor: int = 0,
    field: str = "amount_minor",
) -> BalanceEntry | None:
    """Move the balance by `amount_minor` (negative: a debit) and write its entry; None when an entry
    of this kind and source is there already. InsufficientBalance (409) for a debit larger than the
    balance; 422 naming `field` above the limit or in another currency than a balance holding money."""
    await conn.execute(_OPEN, tenant_id, account_id, currency, at)
    row = await conn.fetchrow(_LOCK, tenant_id, account_id)
    assert row is not None
    if await conn.fetchval(_POSTED, tenant_id, kind, source) is not None:
        return None
    balance = row["balance_minor"]
    if row["currency"] != currency and balance != 0:
        raise Invalid.field(
            "currency", f"the balance is in {row['currency']}, not {currency}", "currency-mismatch"
        )
    after = balance + amount_minor
    if after < 0:
        raise InsufficientBalance(balance, -amount_minor)
    if after > MAX_BALANCE:
        raise over_limit(field, balance)
    entry = BalanceEntry(
        entry_id=uuid.uuid4(),
        account_id=account_id,
        kind=kind,
        amount_minor=amount_minor,
        balance_after_minor=after,
        currency=currency,
        source=source,
        order_id=order_id,
        costs_minor=costs_minor,
        created_at=at,
    )
    await conn.execute(_MOVE, tenant_id, account_id, after, currency, at)
    await conn.execute(_ADD_ENTRY, tenant_id, *entry.model_dump().values())
    event = BalanceCredited.of(entry) if amount_minor > 0 else BalanceDebited.of(entry)
    await outbox.publish(conn, SERVICE, event, subject=account_id, tenant_id=tenant_id)
    return entry


@dataclass(frozen=True)
class Balance:
    balance_minor: int
    currency: str | None  # None: never topped up


async def balance_of(db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, account_id: str) -> Balance:
    row = await db.fetchrow(
        "SELECT balance_minor, currency FROM balances WHERE tenant_id = $1 AND account_id = $2",
        tenant_id,
        account_id,
    )
    return Balance(row["balance_minor"], row["currency"]) if row else Balance(0, None)


async def entries(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, account_id: str, limit: int
) -> list[BalanceEntry]:
    rows = await db.fetch(
        f"SELECT {_ENTRY_COLUMNS} FROM balance_entries WHERE tenant_id = $1 AND account_id = $2"
        " ORDER BY seq DESC LIMIT $3",
        tenant_id,
        account_id,
        limit,
    )
    return [BalanceEntry.model_validate(dict(row)) for row in rows]


# --- paying an order from the balance, and refunding it ---


async def spend_on(conn: asyncpg.Connection, order: Order, amount_minor: int, at: datetime) -> None:
    """Debit the buyer's balance for her order (InsufficientBalance when it does not hold enough)."""
    await post(
        conn,
        order.tenant_id,
        order.account_id,
        "spend",
        -amount_minor,
        order.currency,
        f"order:{order.order_id}:{order.version}",
        at,
        order_id=order.order_id,
        field="payment_mode",
    )


async def paid_for(conn: asyncpg.Connection, order: Order) -> int:
    """What the order's buyer has paid for it from her balance, less what was refunded."""
    total = await conn.fetchval(
        "SELECT coalesce(-sum(amount_minor), 0) FROM balance_entries WHERE tenant_id = $1 AND order_id = $2",
        order.tenant_id,
        order.order_id,
    )
    return int(total)


async def settle_change(conn: asyncpg.Connection, order: Order, new_total_minor: int, at: datetime) -> None:
    """A validator changed an order paid from the balance: debit what it costs more, or credit back
    what it costs less (InsufficientBalance when the balance cannot pay the difference)."""
    difference = new_total_minor - await paid_for(conn, order)
    if difference > 0:
        await spend_on(conn, order, difference, at)
    elif difference < 0:
        await _refund(conn, order, -difference, 0, at)


class BalancePayment(_Value):
    """What an order took from its buyer's balance and what came back."""

    paid_minor: int = Field(description="Taken from the balance for it, in minor units")
    refunded_minor: int = Field(description="Given back to the balance")
    costs_minor: int = Field(description="Cancellation costs kept back")


async def payment_of(db: asyncpg.Connection | asyncpg.Pool, order: Order) -> BalancePayment | None:
    """None when the order was not paid from the balance (asked only of those that were)."""
    if order.checkout is None or order.checkout.choices.payment_mode != "account_balance":
        return None
    row = await db.fetchrow(
        "SELECT coalesce(-sum(amount_minor) FILTER (WHERE kind = 'spend'), 0) AS paid_minor,"
        " coalesce(sum(amount_minor) FILTER (WHERE kind = 'refund'), 0) AS refunded_minor,"
        " coalesce(sum(costs_minor), 0) AS costs_minor"
        " FROM balance_entries WHERE tenant_id = $1 AND order_id = $2",
        order.tenant_id,
        order.order_id,
    )
    assert row is not None
    return BalancePayment.model_validate(dict(row)) if row["paid_minor"] else None


@dataclass(frozen=True)
class Refund:
    refunded_minor: int
    costs_minor: int


async def refund_order(
    conn: asyncpg.Connection, order: Order, costs_minor: int, at: datetime
) -> Refund | None:
    """Give back to the balance what the order took from it, less `costs_minor`; None when it took
    nothing."""
    paid = await paid_for(conn, order)
    if paid <= 0:
        return None
    costs = min(paid, costs_minor)
    await _refund(conn, order, paid - costs, costs, at)
    return Refund(paid - costs, costs)


async def _refund(
    conn: asyncpg.Connection, order: Order, amount_minor: int, costs_minor: int, at: datetime
) -> None:
    if amount_minor == 0:  # the costs took it all: nothing moves (an entry moves something)
        return
    await post(
        conn,
        order.tenant_id,
        order.account_id,
        "refund",
        amount_minor,
        order.currency,
        f"order:{order.order_id}:{order.version}",
        at,
        order_id=order.order_id,
        costs_minor=costs_minor,
    )


# --- top-ups through the payment provider ---


async def start_top_up(
    conn: asyncpg.Connection,
    provider: PaymentProvider,
    tenant_id: str,
    account_id: str,
    amount_minor: int,
    currency: str,
    *,
    callback_url: str,
    return_url: str,
    at: datetime,
) -> payments.Started:
    """Ask the provider for a card payment of `amount_minor` the buyer completes on its page; the
    balance is credited when its notice says it succeeded. 422 when the balance could not hold it."""
    balance = await balance_of(conn, tenant_id, account_id)
    if balance.balance_minor + amount_minor > MAX_BALANCE:
        raise over_limit("amount_minor", balance.balance_minor)
    if balance.currency not in (None, currency) and balance.balance_minor != 0:
        raise Invalid.field(
            "currency", f"the balance is in {balance.currency}, not {currency}", "currency-mismatch"
        )
    return await payments.start(
        conn,
        provider,
        payments.Asked(
            tenant_id=tenant_id,
            account_id=account_id,
            purpose="top_up",
            amount_minor=amount_minor,
            currency=currency,
            description="Top-up of your account balance",
        ),
        callback_url=callback_url,
        return_url=return_url,
        at=at,
    )


async def credit_top_up(
    conn: asyncpg.Connection, provider: PaymentProvider, tenant_id: str, paid: Payment, at: datetime
) -> Payment:
    """Credit a top-up the provider says is paid; one the balance can no longer hold (others came
    first) is refunded through the provider and fails."""
    balance = await balance_of(conn, tenant_id, paid.account_id)
    if balance.balance_minor + paid.amount_minor > MAX_BALANCE:
        await provider.refund(paid.provider_payment_id or "", paid.amount_minor, f"limit:{paid.payment_id}")
        return await payments.mark(
            conn, paid, "failed", "the balance cannot hold more: the payment was refunded", at
        )
    await post(
        conn,
        tenant_id,
        paid.account_id,
        "top_up",
        paid.amount_minor,
        paid.currency,
        f"payment:{paid.payment_id}",
        at,
    )
    return paid
