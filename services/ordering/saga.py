"""Paying an order with loyalty, as a saga ordering owns: an explicit state machine per order, its
messages to loyalty on `internal.ordering.checkout.v1` and loyalty's answers on
`internal.loyalty.reservation.v1`, both keyed by the order.

    reserving --held--> held (awaiting approval) --confirmed--> settling --settled--> settled
        |                 \\--refused/cancelled--> releasing --released--> released
        |--held, confirmed at once--> settling
        |--held and settled (asked so: no approval needed)--> settled
        \\--refused--> refused (the order is refused: nothing was held)

The order is `pending` while the saga is reserving: it enters its life (held for approval or
confirmed) when loyalty holds its items, and is refused when loyalty refuses them. An order that
needs no approval asks loyalty to settle its items as it holds them: one answer, no confirmation
round trip (a settled reservation is given back like a held one if the order goes no further).
An order refused or cancelled later releases what was held; so does a pending order loyalty never
answered within the expiry (it is refused then). Loyalty answers every message with where the
reservation stands, so a duplicate or late answer finds the saga past that step and changes nothing;
a release by loyalty's own timeout (ordering never answered) refuses or cancels the order: never
free.
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Literal, TypeVar

import asyncpg
import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from libs.common import outbox
from libs.common.api import Endpoint, roles
from libs.common.auth import principal
from libs.common.clock import Clock, now
from libs.common.consumer import HandlerTable, PermanentError
from libs.common.events import Envelope, IntegrationEvent
from libs.common.http import json_response, read_query
from libs.common.runtime import POOL, every
from services.ordering import balance, instalments, store
from services.ordering.balance import InsufficientBalance
from services.ordering.checkout import LoyaltyPaid, with_code
from services.ordering.domain import Order
from services.ordering.events import (
    SERVICE,
    CancellationRefund,
    CheckoutAcknowledged,
    CheckoutConfirmed,
    CheckoutReleased,
    CheckoutStep,
    CheckoutSubmitted,
    OrderPaymentRefused,
    OrderSubmitted,
    PaymentItem,
)
from services.ordering.lifecycle import Action, next_status

log = structlog.get_logger(__name__)

SagaState = Literal["reserving", "held", "settling", "settled", "releasing", "released", "refused"]
Waiting = Literal["reservation", "settlement", "release"]


class Saga(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: uuid.UUID = Field(description="The order")
    account_id: str = Field(description="The buyer")
    state: SagaState = Field(description="reserving, held, settling, settled, releasing, released, refused")
    waiting_for: Waiting | None = Field(
        description="Loyalty's answer it waits on: reservation, settlement or release; null: none"
    )
    by_validator: bool = Field(exclude=True)
    reasons: dict[str, str] = Field(description="Loyalty's refusal, per item (points, code, gift_card)")
    step_at: datetime = Field(description="Since when it waits (UTC)")
    created_at: datetime = Field(description="When the order was submitted (UTC)")


_COLUMNS = "order_id, account_id, state, waiting_for, by_validator, reasons, step_at, created_at"
_ADD = """
INSERT INTO checkout_sagas (tenant_id, order_id, account_id, state, waiting_for, by_validator, step_at,
                            created_at, updated_at)
VALUES ($1, $2, $3, 'reserving', 'reservation', $4, $5, $5, $5)
"""
_LOCK = f"SELECT {_COLUMNS} FROM checkout_sagas WHERE tenant_id = $1 AND order_id = $2 FOR UPDATE"
_MOVE = """
UPDATE checkout_sagas SET state = $3, waiting_for = $4,
    step_at = CASE WHEN $4::text IS NULL THEN step_at ELSE $5 END,
    reasons = coalesce($6::jsonb, reasons), updated_at = $5
WHERE tenant_id = $1 AND order_id = $2
"""


def _saga(row: asyncpg.Record) -> Saga:
    fields = dict(row)
    fields["reasons"] = json.loads(fields["reasons"])
    return Saga(**fields)


async def _locked(conn: asyncpg.Connection, tenant_id: str, order_id: uuid.UUID) -> Saga | None:
    row = await conn.fetchrow(_LOCK, tenant_id, order_id)
    return _saga(row) if row else None


async def _move(
    conn: asyncpg.Connection,
    tenant_id: str,
    saga: Saga,
    state: SagaState,
    waiting_for: Waiting | None,
    at: datetime,
    reasons: dict[str, str] | None = None,
) -> None:
    await conn.execute(
        _MOVE, tenant_id, saga.order_id, state, waiting_for, at, json.dumps(reasons) if reasons else None
    )


async def _tell(conn: asyncpg.Connection, order: Order, event: IntegrationEvent) -> None:
    await outbox.publish(conn, SERVICE, event, subject=str(order.order_id), tenant_id=order.tenant_id)


async def _ask(
    conn: asyncpg.Connection, order: Order, step: type[CheckoutStep], at: datetime, **extra: str
) -> None:
    """Ask loyalty for the saga's next step about the order (acknowledge, confirm, release)."""
    await _tell(conn, order, step(order_id=order.order_id, account_id=order.account_id, at=at, **extra))


async def start(
    conn: asyncpg.Connection,
    order: Order,
    items: Sequence[PaymentItem],
    *,
    by_validator: bool,
    settle: bool,
    at: datetime,
) -> None:
    """Ask loyalty to reserve the items for the new pending order; `settle`: to settle them as it
    holds them (the order needs no approval)."""
    await conn.execute(_ADD, order.tenant_id, order.order_id, order.account_id, by_validator, at)
    await _tell(
        conn,
        order,
        CheckoutSubmitted(
            order_id=order.order_id,
            account_id=order.account_id,
            items=list(items),
            submitted_at=at,
            settle=settle,
        ),
    )


async def release(conn: asyncpg.Connection, order: Order, reason: str, at: datetime) -> None:
    """The order was refused, cancelled or expired: ask loyalty to give back what it holds for it (a
    saga reserving still: loyalty releases it whether its answer comes before or after)."""
    saga = await _locked(conn, order.tenant_id, order.order_id)
    if saga is None or saga.state in ("releasing", "released", "refused"):
        return
    await _move(conn, order.tenant_id, saga, "releasing", "release", at)
    await _ask(conn, order, CheckoutReleased, at, reason=reason)


async def confirmed(conn: asyncpg.Connection, order: Order, at: datetime) -> None:
    """A held order was approved: ask loyalty to settle what it holds."""
    saga = await _locked(conn, order.tenant_id, order.order_id)
    if saga is None or saga.state != "held":
        return
    await _move(conn, order.tenant_id, saga, "settling", "settlement", at)
    await _ask(conn, order, CheckoutConfirmed, at)


# --- loyalty's answers (internal.loyalty.reservation.v1) ---

RESERVATIONS_TOPIC = "internal.loyalty.reservation.v1"
HELD, REFUSED = "loyalty.reservation.held", "loyalty.reservation.refused"
SETTLED, RELEASED = "loyalty.reservation.settled", "loyalty.reservation.released"


class _Reading(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    order_id: uuid.UUID
    account_id: str = Field(min_length=1)


class CodeCover(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    title: str
    kind: str
    percent_bp: int = Field(ge=0, le=10_000)


class Held(_Reading):
    """Ordering's reading of loyalty.reservation.held."""

    points: int = Field(ge=0)
    gift_card_minor: int = Field(ge=0)
    code: CodeCover | None
    settled: bool = False  # settled as held, as ordering asked


class Refused(_Reading):
    """Ordering's reading of loyalty.reservation.refused."""

    reasons: dict[str, str]


class Answered(_Reading):
    """Ordering's reading of loyalty.reservation.settled and released."""


R = TypeVar("R", bound=_Reading)


def _read(model: type[R], event: Envelope) -> R:
    try:
        return model.model_validate(event.data)
    except ValidationError as exc:
        raise PermanentError(f"{event.type} is malformed: {exc.error_count()} errors") from exc


async def _order_and_saga(
    conn: asyncpg.Connection, event: Envelope, answer: _Reading
) -> tuple[Order, Saga] | None:
    saga = await _locked(conn, event.tenantid, answer.order_id)
    order = await store.find_order(conn, event.tenantid, answer.order_id, for_update=True)
    if saga is None or order is None:
        log.warning("an answer about no saga of ours", order_id=str(answer.order_id), type=event.type)
        return None
    return order, saga


EnterLife = Callable[..., Awaitable[Order]]
"""`placing.enter_life`, given by the consumer table (placing starts sagas: this module cannot import it)."""


async def on_held(conn: asyncpg.Connection, event: Envelope, *, enter_life: EnterLife) -> None:
    """Loyalty holds the items: the pending order enters its life (held for approval: loyalty keeps
    them; confirmed: loyalty settles them, unless it settled them already as asked). Its balance
    unable to pay the rest, it is refused and loyalty releases them (settled ones too)."""
    held = _read(Held, event)
    found = await _order_and_saga(conn, event, held)
    if found is None:
        return
    order, saga = found
    if saga.state != "reserving" or order.status != "pending":
        return  # a duplicate, or an answer the order no longer waits for (released meanwhile)
    at = event.time
    order = await _with_code(conn, order, held)
    try:
        async with conn.transaction():
            entered = await enter_life(conn, order, at, by_validator=saga.by_validator)
    except InsufficientBalance as refused:  # the balance cannot pay what is due
        await _refuse_order(conn, order, f"payment refused: {refused.detail}", at)
        await release(conn, order, "payment-refused", at)
        return
    if held.settled:  # nothing more to ask: a refusal or cancellation later releases them
        await _move(conn, event.tenantid, saga, "settled", None, at)
    elif entered.status == "confirmed":
        await _move(conn, event.tenantid, saga, "settling", "settlement", at)
        await _ask(conn, order, CheckoutConfirmed, at)
    else:
        await _move(conn, event.tenantid, saga, "held", None, at)
        await _ask(conn, order, CheckoutAcknowledged, at)


async def _with_code(conn: asyncpg.Connection, order: Order, held: Held) -> Order:
    """The order with what the code held takes off what is due."""
    if held.code is None or order.checkout is None:
        return order
    paid = order.checkout.loyalty or LoyaltyPaid(due_minor=order.checkout.totals.total_incl_vat_minor)
    total = order.checkout.totals.total_incl_vat_minor
    checkout = order.checkout.model_copy(
        update={"loyalty": with_code(paid, held.code.title, held.code.percent_bp, total)}
    )
    await store.set_checkout(conn, order.order_id, checkout)
    return order.model_copy(update={"checkout": checkout})


async def _refuse_order(conn: asyncpg.Connection, order: Order, reason: str, at: datetime) -> None:
    """The order loyalty's items (or the balance) cannot pay goes no further: refused while it
    waits, cancelled once confirmed; what the balance paid goes back in full (it costs its buyer
    nothing), the instalments to come are cancelled. Announced on ordering.order.v1, a pending order
    (never announced) as submitted first."""
    action: Action = "cancel" if order.status == "confirmed" else "refuse"
    status = next_status(order.status, action)
    await store.move_order(conn, order, status, action, at=at, by_account=None, reason=reason)
    await instalments.stop(conn, order)
    back = await balance.refund_order(conn, order, 0, at)
    refund = (
        CancellationRefund(refunded_minor=back.refunded_minor, costs_minor=0, to="account_balance")
        if back is not None
        else None
    )
    if order.status == "pending":
        await _tell(conn, order, OrderSubmitted.of(order))
    header = OrderPaymentRefused.header(order) | {"version": order.version + 1}
    await _tell(conn, order, OrderPaymentRefused(**header, reason=reason, refused_at=at, refund=refund))


async def on_refused(conn: asyncpg.Connection, event: Envelope) -> None:
    """Loyalty holds nothing: the pending order is refused, saying which item and why."""
    refused = _read(Refused, event)
    found = await _order_and_saga(conn, event, refused)
    if found is None:
        return
    order, saga = found
    if saga.state != "reserving":
        return
    await _move(conn, event.tenantid, saga, "refused", None, event.time, refused.reasons)
    if order.status == "pending":
        why = ", ".join(f"{item}: {reason}" for item, reason in sorted(refused.reasons.items()))
        await _refuse_order(conn, order, f"loyalty refused the payment ({why})", event.time)


async def on_settled(conn: asyncpg.Connection, event: Envelope) -> None:
    """Loyalty settled what it held: the saga is done (the order needs nothing more)."""
    answer = _read(Answered, event)
    saga = await _locked(conn, event.tenantid, answer.order_id)
    if saga is not None and saga.state == "settling":
        await _move(conn, event.tenantid, saga, "settled", None, event.time)


async def on_released(conn: asyncpg.Connection, event: Envelope) -> None:
    """Loyalty gave back what it held. Asked (releasing): done. Not asked (loyalty's timeout, ordering
    never answered): the order cannot be paid so; it is refused, or cancelled once confirmed."""
    answer = _read(Answered, event)
    found = await _order_and_saga(conn, event, answer)
    if found is None:
        return
    order, saga = found
    if saga.state in ("released", "refused"):
        return
    await _move(conn, event.tenantid, saga, "released", None, event.time)
    if saga.state == "releasing":
        return
    if order.status in ("pending", "awaiting_approval", "confirmed"):
        await _refuse_order(conn, order, "loyalty released what paid the order", event.time)


def handlers(enter_life: EnterLife) -> HandlerTable:
    """Loyalty's answers, the held order entering its life through `enter_life`."""
    held = functools.partial(on_held, enter_life=enter_life)
    return {RESERVATIONS_TOPIC: {HELD: held, REFUSED: on_refused, SETTLED: on_settled, RELEASED: on_released}}


READINGS: dict[str, type[BaseModel]] = {HELD: Held, REFUSED: Refused, SETTLED: Answered, RELEASED: Answered}


# --- the admin's view, and pending orders loyalty never answered ---


class SagaView(Saga):
    stuck: bool = Field(description="Waiting longer than the tenant's patience: someone should look")


async def in_progress(
    db: asyncpg.Connection | asyncpg.Pool,
    tenant_id: str,
    now: datetime,
    stuck_after: timedelta,
    *,
    only_stuck: bool,
) -> list[SagaView]:
    """The sagas waiting on loyalty, the longest waiting first."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM checkout_sagas WHERE tenant_id = $1 AND waiting_for IS NOT NULL"
        " AND ($2::timestamptz IS NULL OR step_at < $2) ORDER BY step_at LIMIT 500",
        tenant_id,
        now - stuck_after if only_stuck else None,
    )
    return [
        SagaView(
            **_saga(row).model_dump(),
            by_validator=row["by_validator"],
            stuck=row["step_at"] < now - stuck_after,
        )
        for row in rows
    ]


async def expire_pending(conn: asyncpg.Connection, now: datetime, after: timedelta) -> int:
    """Refuse the pending orders loyalty has not answered about for `after`, and release their
    items (loyalty gives them back whenever it reads both messages). How many."""
    rows = await conn.fetch(
        "SELECT tenant_id, order_id FROM checkout_sagas WHERE state = 'reserving' AND step_at < $1"
        " ORDER BY step_at LIMIT 200",
        now - after,
    )
    expired = 0
    for row in rows:
        saga = await _locked(conn, row["tenant_id"], row["order_id"])
        order = await store.find_order(conn, row["tenant_id"], row["order_id"], for_update=True)
        if saga is None or order is None or saga.state != "reserving" or order.status != "pending":
            continue
        await _refuse_order(conn, order, "loyalty did not answer in time", now)
        await release(conn, order, "expired", now)
        expired += 1
    return expired


async def expiry_worker(
    pool: asyncpg.Pool, stopping: asyncio.Event, *, interval_s: float, after: timedelta, clock: Clock
) -> None:
    """Every `interval_s`, refuse the pending orders loyalty left unanswered for `after`."""

    async def sweep() -> None:
        async with pool.acquire() as conn, conn.transaction():
            expired = await expire_pending(conn, clock(), after)
        if expired:
            log.info("pending orders expired", count=expired)

    await every(stopping, interval_s, "pending orders expiry", sweep)


# --- the admin's view of the sagas in progress ---

STUCK_AFTER = web.AppKey("saga_stuck_after", timedelta)


class SagaQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stuck: bool = Field(False, description="Only those waiting longer than the platform's patience")


class SagaList(RootModel[list[SagaView]]):
    """Orders paid with loyalty whose saga waits on loyalty, the longest waiting first."""


async def list_sagas(request: web.Request) -> web.Response:
    query = read_query(request, SagaQuery)
    found = await in_progress(
        request.app[POOL],
        principal(request).tenant_id,
        now(request),
        request.app[STUCK_AFTER],
        only_stuck=query.stuck,
    )
    return json_response(SagaList(found))


ENDPOINTS = [
    Endpoint(
        "GET",
        "/checkout/sagas",
        list_sagas,
        "Orders paid partly with loyalty whose saga waits on loyalty (a reservation, a settlement or a"
        " release), with the step and since when; `stuck`: only those waiting past the platform's patience",
        roles=roles("admin"),
        query=SagaQuery,
        response=SagaList,
    )
]
