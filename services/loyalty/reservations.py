"""Loyalty's side of paying an order with loyalty: ordering asks to reserve items (points, a code, a
gift card with its PIN) when the order is submitted; loyalty holds them all or refuses them all (with
the reason per item); ordering then settles the reservation when the order is confirmed, or releases
it when the order is refused, cancelled or its quote expired. An order that needs no approval asks
to settle as it holds: the reservation is settled at once and answered as held and settled. Loyalty's
own timeout releases a held reservation only while ordering has not answered at all (no
acknowledgement, settlement or release).

One row per order decides, locked by every message about it: a duplicate or late message changes
nothing, a release that comes before the reservation forbids it, and what was held comes back once.
Held points are debited at once (`reserve`) and credited back on release (`release`); a code is
marked used by the order (and free again on release); a gift card's amount is spent at once and
refunded on release."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal, TypeVar

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from libs.common import outbox
from libs.common.clock import Clock
from libs.common.consumer import PermanentError
from libs.common.errors import DomainError
from libs.common.events import Envelope, IntegrationEvent
from libs.common.limits import MAX_ENTRY_POINTS, MAX_ORDER_TOTAL_MINOR
from libs.common.runtime import every
from services.loyalty import giftcards, store, vouchers
from services.loyalty.events import (
    SERVICE,
    CodeCover,
    PointsReleased,
    PointsReserved,
    ReservationHeld,
    ReservationRefused,
    ReservationReleased,
    ReservationSettled,
)
from services.loyalty.giftcards import WrongPin

log = structlog.get_logger(__name__)
R = TypeVar("R", bound=BaseModel)

HOLD = timedelta(hours=24)
"""How long loyalty holds a reservation ordering never answered about before releasing it."""
ORDER_CAUSE = "order"
State = Literal["held", "settled", "released", "refused"]


class PointsItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["points"] = "points"
    points: int = Field(ge=1, le=MAX_ENTRY_POINTS, description="Points to spend on the order")


class SponsorPointsItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["sponsor_points"] = "sponsor_points"
    points: int = Field(ge=1, le=MAX_ENTRY_POINTS, description="Sponsor points to spend on the order")


class CodeItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["code"] = "code"
    code: str = Field(min_length=4, max_length=40, description="A single-use code (a bearer secret)")


class GiftCardItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["gift_card"] = "gift_card"
    number: str = Field(min_length=4, max_length=40, description="The gift card's number")
    pin: str = Field(min_length=4, max_length=8, description="Its PIN (a bearer secret)")
    amount_minor: int = Field(ge=1, le=MAX_ORDER_TOTAL_MINOR, description="What to take off it")


Item = Annotated[PointsItem | SponsorPointsItem | CodeItem | GiftCardItem, Field(discriminator="kind")]
SPONSOR_CAUSE = "order-sponsor"  # sponsor points reserved for an order (its own cause: another pot)


class Reservation(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: uuid.UUID
    account_id: str
    state: State
    acknowledged: bool
    points: int
    sponsor_points: int
    voucher_id: uuid.UUID | None
    gift_card_id: uuid.UUID | None
    gift_minor: int
    reasons: dict[str, str]
    hold_until: datetime
    updated_at: datetime


_COLUMNS = (
    "order_id, account_id, state, acknowledged, points, sponsor_points, voucher_id, gift_card_id, gift_minor,"
    " reasons,"
    " hold_until, updated_at"
)
_LOCK = f"SELECT {_COLUMNS} FROM reservations WHERE tenant_id = $1 AND order_id = $2 FOR UPDATE"
_ADD = f"""
INSERT INTO reservations (tenant_id, order_id, account_id, state, points, voucher_id, gift_card_id,
                          gift_minor, reasons, hold_until, created_at, updated_at, acknowledged,
                          sponsor_points)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $11, $12, $13)
RETURNING {_COLUMNS}
"""
_MOVE = f"""
UPDATE reservations SET state = $3, acknowledged = acknowledged OR $4, updated_at = $5
WHERE tenant_id = $1 AND order_id = $2 RETURNING {_COLUMNS}
"""
# A code reserved by an order is marked used by it; released, it is free again.
_TAKE_CODE = """
UPDATE vouchers SET redeemed_at = $3, redeemed_by = $4
WHERE tenant_id = $1 AND code_digest = $2 AND redeemed_at IS NULL AND expires_at > $3
RETURNING voucher_id
"""
_FREE_CODE = (
    "UPDATE vouchers SET redeemed_at = NULL, redeemed_by = NULL WHERE voucher_id = $1 AND redeemed_by = $2"
)


def _reservation(row: asyncpg.Record) -> Reservation:
    fields = dict(row)
    fields["reasons"] = json.loads(fields["reasons"])
    return Reservation(**fields)


async def _locked(conn: asyncpg.Connection, tenant_id: str, order_id: uuid.UUID) -> Reservation | None:
    row = await conn.fetchrow(_LOCK, tenant_id, order_id)
    return _reservation(row) if row else None


def _by_order(order_id: uuid.UUID) -> str:
    return f"order:{order_id}"


class _Refused(Exception):
    def __init__(self, reasons: dict[str, str], wrong_pin: str | None = None) -> None:
        super().__init__(reasons)
        self.reasons = reasons
        self.wrong_pin = wrong_pin  # a gift card whose wrong PIN must count though all is undone


async def _hold(
    conn: asyncpg.Connection,
    tenant_id: str,
    order_id: uuid.UUID,
    account_id: str,
    items: list[Item],
    at: datetime,
) -> tuple[int, int, uuid.UUID | None, uuid.UUID | None, int]:
    """Hold every item or raise _Refused with each refused item's reason (in a savepoint the caller
    rolls back)."""
    reasons: dict[str, str] = {}
    points, sponsor_points, voucher_id, card_id, gift = 0, 0, None, None, 0
    wrong_pin = None
    for item in items:
        if isinstance(item, SponsorPointsItem):
            account = await store.open_account(conn, tenant_id, account_id)
            if account.closed or account.sponsor_balance < item.points:
                reasons["sponsor_points"] = "insufficient-points"
                continue
            entry = await store.post_entry(
                conn,
                tenant_id,
                account_id,
                "reserve",
                -item.points,
                SPONSOR_CAUSE,
                str(order_id),
                pot="sponsor",
            )
            assert entry is not None, "one reservation per order: its row is locked"
            await _publish(conn, tenant_id, PointsReserved.of(entry), account_id)
            sponsor_points = item.points
            continue
        if isinstance(item, PointsItem):
            account = await store.open_account(conn, tenant_id, account_id)
            if account.closed or account.balance < item.points:
                reasons["points"] = "insufficient-points"
                continue
            entry = await store.post_entry(
                conn, tenant_id, account_id, "reserve", -item.points, ORDER_CAUSE, str(order_id)
            )
            assert entry is not None, "one reservation per order: its row is locked"
            await _publish(conn, tenant_id, PointsReserved.of(entry), account_id)
            points = item.points
        elif isinstance(item, CodeItem):
            voucher_id = await conn.fetchval(
                _TAKE_CODE, tenant_id, vouchers.digest(item.code), at, _by_order(order_id)
            )
            if voucher_id is None:
                reasons["code"] = "code-unusable"  # unknown, used or expired: one answer, no oracle
        else:
            try:
                card = await giftcards.check_pin(conn, tenant_id, item.number, item.pin, at)
                spent, _ = await giftcards.redeem(
                    conn, tenant_id, card, item.amount_minor, None, account_id, at, order_id=order_id
                )
            except WrongPin:
                reasons["gift_card"] = "wrong-pin"
                wrong_pin = giftcards.normalise(item.number)
            except DomainError as refused:
                reasons["gift_card"] = refused.kind
            else:
                card_id, gift = spent.card_id, item.amount_minor
    if reasons:
        raise _Refused(reasons, wrong_pin)
    return points, sponsor_points, voucher_id, card_id, gift


async def reserve(
    conn: asyncpg.Connection,
    tenant_id: str,
    order_id: uuid.UUID,
    account_id: str,
    items: list[Item],
    at: datetime,
    hold: timedelta = HOLD,
    *,
    settle: bool = False,
) -> Reservation:
    """Hold all the items for the order, or refuse them all (its reasons per item); `settle`: settle
    them at once (ordering needs no confirmation). Asked again, or after the order was released, it
    answers what was decided and changes nothing."""
    if len({item.kind for item in items}) != len(items):
        raise ValueError("one item of each kind")
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{tenant_id}:{order_id}")
    found = await _locked(conn, tenant_id, order_id)
    if found is not None:
        await _answer(conn, tenant_id, found)  # asked again: the same answer
        return found
    wrong_pin = None
    try:
        async with conn.transaction():  # a savepoint: a refusal undoes every hold
            points, sponsor_points, voucher_id, card_id, gift = await _hold(
                conn, tenant_id, order_id, account_id, items, at
            )
        state: State = "settled" if settle else "held"
        reasons: dict[str, str] = {}
    except _Refused as refused:
        points, sponsor_points, voucher_id, card_id, gift = 0, 0, None, None, 0
        state, reasons, wrong_pin = "refused", refused.reasons, refused.wrong_pin
    if wrong_pin is not None:  # counted though the reservation is refused
        await giftcards.count_wrong_pin(conn, tenant_id, wrong_pin, at)
    row = await conn.fetchrow(
        _ADD,
        tenant_id,
        order_id,
        account_id,
        state,
        points,
        voucher_id,
        card_id,
        gift,
        json.dumps(reasons),
        at + hold,
        at,
        state == "settled",  # ordering answered in advance: never released by the timeout
        sponsor_points,
    )
    reservation = _reservation(row)
    await _answer(conn, tenant_id, reservation, just_held=True)
    return reservation


async def acknowledge(conn: asyncpg.Connection, tenant_id: str, order_id: uuid.UUID, at: datetime) -> None:
    """Ordering holds the order (it awaits approval): loyalty's timeout no longer releases it."""
    found = await _locked(conn, tenant_id, order_id)
    if found is not None and found.state == "held":
        await conn.execute(_MOVE, tenant_id, order_id, "held", True, at)


async def settle(
    conn: asyncpg.Connection, tenant_id: str, order_id: uuid.UUID, at: datetime
) -> Reservation | None:
    """The order is confirmed: what is held is spent for good. A reservation released meanwhile (by
    loyalty's timeout) stays released: ordering must refuse the order. None: no such reservation."""
    found = await _locked(conn, tenant_id, order_id)
    if found is not None and found.state == "held":
        found = _reservation(await conn.fetchrow(_MOVE, tenant_id, order_id, "settled", True, at))
    if found is not None:
        await _answer(conn, tenant_id, found)
    return found


async def release(
    conn: asyncpg.Connection, tenant_id: str, order_id: uuid.UUID, account_id: str, at: datetime
) -> Reservation:
    """The order is refused, cancelled (even once confirmed: a settled reservation comes back too) or
    expired: what was held comes back, once. A release before the reservation leaves a released row,
    so that the late reservation holds nothing."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{tenant_id}:{order_id}")
    found = await _locked(conn, tenant_id, order_id)
    if found is None:
        row = await conn.fetchrow(
            _ADD, tenant_id, order_id, account_id, "released", 0, None, None, 0, "{}", at, at, True, 0
        )
        found = _reservation(row)
    elif found.state in ("held", "settled"):
        found = await _give_back(conn, tenant_id, found, at, acknowledged=True)
    await _answer(conn, tenant_id, found)
    return found


async def _give_back(
    conn: asyncpg.Connection, tenant_id: str, held: Reservation, at: datetime, *, acknowledged: bool
) -> Reservation:
    if held.points:
        await store.open_account(conn, tenant_id, held.account_id)
        entry = await store.post_entry(
            conn, tenant_id, held.account_id, "release", held.points, ORDER_CAUSE, str(held.order_id)
        )
        assert entry is not None, "released once: the reservation's row is locked"
        await _publish(conn, tenant_id, PointsReleased.of(entry), held.account_id)
    if held.sponsor_points:
        await store.open_account(conn, tenant_id, held.account_id)
        entry = await store.post_entry(
            conn,
            tenant_id,
            held.account_id,
            "release",
            held.sponsor_points,
            SPONSOR_CAUSE,
            str(held.order_id),
            pot="sponsor",
        )
        assert entry is not None, "released once: the reservation's row is locked"
        await _publish(conn, tenant_id, PointsReleased.of(entry), held.account_id)
    if held.voucher_id is not None:
        await conn.execute(_FREE_CODE, held.voucher_id, _by_order(held.order_id))
    if held.gift_card_id is not None:
        await giftcards.refund(
            conn, tenant_id, held.gift_card_id, held.gift_minor, held.account_id, at, held.order_id
        )
    return _reservation(await conn.fetchrow(_MOVE, tenant_id, held.order_id, "released", acknowledged, at))


async def release_unanswered(conn: asyncpg.Connection, now: datetime) -> int:
    """Loyalty's timeout: release the held reservations ordering never answered about, past their
    hold. How many."""
    rows = await conn.fetch(
        "SELECT tenant_id, order_id FROM reservations WHERE state = 'held' AND NOT acknowledged"
        " AND hold_until <= $1 ORDER BY hold_until LIMIT 500",
        now,
    )
    released = 0
    for row in rows:
        found = await _locked(conn, row["tenant_id"], row["order_id"])
        if found is not None and found.state == "held" and not found.acknowledged and found.hold_until <= now:
            released_now = await _give_back(conn, row["tenant_id"], found, now, acknowledged=False)
            await _answer(conn, row["tenant_id"], released_now)
            released += 1
    return released


async def _publish(conn: asyncpg.Connection, tenant_id: str, event: IntegrationEvent, subject: str) -> None:
    await outbox.publish(conn, SERVICE, event, subject=subject, tenant_id=tenant_id)


_CODE_COVER = """
SELECT p.spec FROM vouchers v JOIN programs p ON p.tenant_id = v.tenant_id AND p.program_id = v.program_id
WHERE v.voucher_id = $1
"""


async def _answer(
    conn: asyncpg.Connection, tenant_id: str, reservation: Reservation, *, just_held: bool = False
) -> None:
    """Tell ordering where the order's reservation stands (on every message: a duplicate gets the
    same answer), keyed by the order. `just_held`: the reservation was just made, so one settled at
    once is answered as held (what it holds, and that it is settled)."""
    r = reservation
    header = {"order_id": r.order_id, "account_id": r.account_id}
    event: IntegrationEvent
    if r.state == "held" or (r.state == "settled" and just_held):
        code = None
        if r.voucher_id is not None:
            spec = json.loads(await conn.fetchval(_CODE_COVER, r.voucher_id))
            code = CodeCover(
                title=spec.get("title", ""),
                kind=spec.get("kind", "gift"),
                percent_bp=spec.get("percent_bp", 0),
            )
        event = ReservationHeld(
            **header,
            points=r.points,
            sponsor_points=r.sponsor_points,
            gift_card_minor=r.gift_minor,
            code=code,
            held_at=r.updated_at,
            settled=r.state == "settled",
        )
    elif r.state == "refused":
        event = ReservationRefused(**header, reasons=r.reasons, refused_at=r.updated_at)
    elif r.state == "settled":
        event = ReservationSettled(**header, settled_at=r.updated_at)
    else:
        event = ReservationReleased(**header, by_timeout=not r.acknowledged, released_at=r.updated_at)
    await _publish(conn, tenant_id, event, str(r.order_id))


# --- ordering's messages (internal.ordering.checkout.v1), keyed by the order ---

CHECKOUT_TOPIC = "internal.ordering.checkout.v1"
CHECKOUT_SUBMITTED = "ordering.checkout.submitted"
CHECKOUT_ACKNOWLEDGED = "ordering.checkout.acknowledged"
CHECKOUT_CONFIRMED = "ordering.checkout.confirmed"
CHECKOUT_RELEASED = "ordering.checkout.released"


class _Reading(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CheckoutSubmitted(_Reading):
    """Loyalty's reading of ordering.checkout.submitted: reserve these items for the order."""

    order_id: uuid.UUID
    account_id: str = Field(min_length=1)
    items: list[Item] = Field(min_length=1, max_length=4)
    settle: bool = False


class CheckoutAnswered(_Reading):
    """Loyalty's reading of ordering.checkout.acknowledged, confirmed and released."""

    order_id: uuid.UUID
    account_id: str = Field(min_length=1)


def _read(model: type[R], event: Envelope) -> R:
    try:
        return model.model_validate(event.data)
    except ValidationError as exc:
        raise PermanentError(f"{event.type} is malformed: {exc.error_count()} errors") from exc


async def on_submitted(conn: asyncpg.Connection, event: Envelope) -> None:
    asked = _read(CheckoutSubmitted, event)
    kinds = [item.kind for item in asked.items]
    if len(set(kinds)) != len(kinds):
        raise PermanentError("one item of each kind")
    await reserve(
        conn, event.tenantid, asked.order_id, asked.account_id, asked.items, event.time, settle=asked.settle
    )


async def on_acknowledged(conn: asyncpg.Connection, event: Envelope) -> None:
    answered = _read(CheckoutAnswered, event)
    await acknowledge(conn, event.tenantid, answered.order_id, event.time)


async def on_confirmed(conn: asyncpg.Connection, event: Envelope) -> None:
    answered = _read(CheckoutAnswered, event)
    await settle(conn, event.tenantid, answered.order_id, event.time)


async def on_released(conn: asyncpg.Connection, event: Envelope) -> None:
    answered = _read(CheckoutAnswered, event)
    await release(conn, event.tenantid, answered.order_id, answered.account_id, event.time)


READINGS: dict[str, type[BaseModel]] = {
    CHECKOUT_SUBMITTED: CheckoutSubmitted,
    CHECKOUT_ACKNOWLEDGED: CheckoutAnswered,
    CHECKOUT_CONFIRMED: CheckoutAnswered,
    CHECKOUT_RELEASED: CheckoutAnswered,
}
HANDLERS = {
    CHECKOUT_TOPIC: {
        CHECKOUT_SUBMITTED: on_submitted,
        CHECKOUT_ACKNOWLEDGED: on_acknowledged,
        CHECKOUT_CONFIRMED: on_confirmed,
        CHECKOUT_RELEASED: on_released,
    }
}


async def timeout_worker(
    pool: asyncpg.Pool, stopping: asyncio.Event, *, interval_s: float, clock: Clock
) -> None:
    """Release, every `interval_s`, the held reservations ordering never answered about."""

    async def sweep() -> None:
        async with pool.acquire() as conn, conn.transaction():
            released = await release_unanswered(conn, clock())
        if released:
            log.info("reservations released by timeout", count=released)

    await every(stopping, interval_s, "reservation timeout", sweep)
