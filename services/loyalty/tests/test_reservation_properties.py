"""Loyalty's side of paying with loyalty, for any order in which its messages arrive (hypothesis),
duplicates included, on the real PostgreSQL: reserve (or reserve settling at once, for an order that
needs no approval), ordering's acknowledgement, settle, release and loyalty's own timeout leave the
points, the code and the gift card where exactly one outcome leaves them — all spent if the order was
settled, all back (once) otherwise."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.loyalty import giftcards, reservations, store, vouchers
from services.loyalty.reservations import CodeItem, GiftCardItem, PointsItem

pytestmark = pytest.mark.fast

AT = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
TENANT, MEMBER = "t", "ana"
Message = str
messages = st.lists(
    st.sampled_from(["reserve", "reserve_settling", "ack", "settle", "release", "timeout"]),
    min_size=1,
    max_size=8,
)


def model(sequence: list[Message]) -> str | None:
    """What the reservation should end as: held, settled or released (None: never reserved)."""
    state, acknowledged = None, False
    for message in sequence:
        if message == "reserve" and state is None:
            state = "held"
        elif message == "reserve_settling" and state is None:
            state, acknowledged = "settled", True
        elif message == "ack" and state == "held":
            acknowledged = True
        elif message == "settle" and state == "held":
            state, acknowledged = "settled", True
        elif (message == "release" and state in (None, "held", "settled")) or (
            message == "timeout" and state == "held" and not acknowledged
        ):
            state = "released"
    return state


class _Rollback(Exception):
    pass


async def _world(db: asyncpg.Connection) -> tuple[str, str, str]:
    """Ana with 100 points, a code of hers, and a gift card of 50.00 (its number and PIN)."""
    await store.open_account(db, TENANT, MEMBER)
    await store.post_entry(db, TENANT, MEMBER, "earn", 100, "order", "earlier")
    program_id, code = uuid.uuid4(), vouchers.new_code()
    await db.execute(
        "INSERT INTO programs (tenant_id, program_id, spec, created_at) VALUES ($1, $2, '{}', $3)",
        TENANT,
        program_id,
        AT,
    )
    await db.execute(
        "INSERT INTO vouchers (tenant_id, voucher_id, account_id, program_id, code_digest, code_hint, points,"
        " issued_at, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, 'HINT', 0, $6::timestamptz, $6::timestamptz + interval '90 days')",
        TENANT,
        uuid.uuid4(),
        MEMBER,
        program_id,
        vouchers.digest(code),
        AT,
    )
    card, pin = await giftcards.sell(db, TENANT, 5000, "EUR", None, "staff", AT)
    assert pin is not None
    return code, card.number, pin


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages)
@example(["reserve", "ack", "timeout", "settle"])  # acknowledged: the timeout leaves it, it is settled
@example(["reserve", "timeout", "settle"])  # unanswered: released by the timeout, the settlement too late
@example(["release", "reserve"])  # a release overtook the reservation: nothing is held
@example(["reserve", "release", "release", "timeout"])  # back once
@example(["reserve", "settle", "release", "release"])  # a confirmed order cancelled: back once
@example(["reserve_settling", "timeout", "reserve_settling"])  # settled at once: no timeout, once
@example(["reserve_settling", "release", "settle", "release"])  # settled at once, cancelled: back once
async def test_any_order_of_messages_leaves_one_outcome(
    db: asyncpg.Connection, sequence: list[Message]
) -> None:
    try:
        async with db.transaction():  # each example leaves nothing behind
            code, number, pin = await _world(db)
            order_id = uuid.uuid4()
            items: list[reservations.Item] = [
                PointsItem(points=30),
                CodeItem(code=code),
                GiftCardItem(number=number, pin=pin, amount_minor=2000),
            ]
            for message in sequence:
                if message in ("reserve", "reserve_settling"):
                    settle = message == "reserve_settling"
                    await reservations.reserve(db, TENANT, order_id, MEMBER, items, AT, settle=settle)
                elif message == "ack":
                    await reservations.acknowledge(db, TENANT, order_id, AT)
                elif message == "settle":
                    await reservations.settle(db, TENANT, order_id, AT)
                elif message == "release":
                    await reservations.release(db, TENANT, order_id, MEMBER, AT)
                else:
                    await reservations.release_unanswered(db, AT + reservations.HOLD + timedelta(seconds=1))

            expected = model(sequence)
            state = await db.fetchval("SELECT state FROM reservations WHERE order_id = $1", order_id)
            assert state == expected
            spent = state == "settled" or state == "held"
            account = await store.find_account(db, TENANT, MEMBER)
            assert account is not None and account.balance == (70 if spent else 100)
            assert account.balance == await db.fetchval(
                "SELECT sum(points) FROM ledger WHERE account_id = $1", MEMBER
            )
            used = await db.fetchval(
                "SELECT redeemed_at IS NOT NULL FROM vouchers WHERE tenant_id = $1", TENANT
            )
            assert used is spent
            card = await db.fetchrow(
                "SELECT card_id, balance_minor FROM gift_cards WHERE number = $1", number
            )
            assert card["balance_minor"] == (3000 if spent else 5000)
            moves = await db.fetchval(
                "SELECT sum(amount_minor) FROM gift_card_moves WHERE card_id = $1", card["card_id"]
            )
            assert moves == card["balance_minor"]
            came_back = await db.fetchval("SELECT count(*) FROM ledger WHERE kind = 'release'")
            assert came_back <= 1  # back once at most
            raise _Rollback
    except _Rollback:
        pass


async def test_a_refusal_holds_nothing_and_counts_a_wrong_pin(db: asyncpg.Connection) -> None:
    code, number, pin = await _world(db)
    wrong = "000000" if pin != "000000" else "111111"
    order_id = uuid.uuid4()

    refused = await reservations.reserve(
        db,
        TENANT,
        order_id,
        MEMBER,
        [
            PointsItem(points=30),
            CodeItem(code=code),
            GiftCardItem(number=number, pin=wrong, amount_minor=100),
        ],
        AT,
    )

    assert refused.state == "refused" and refused.reasons == {"gift_card": "wrong-pin"}
    account = await store.find_account(db, TENANT, MEMBER)
    assert account is not None and account.balance == 100
    assert await db.fetchval("SELECT redeemed_at FROM vouchers") is None
    assert await db.fetchval("SELECT wrong_pins FROM gift_cards") == 1
    again = await reservations.reserve(db, TENANT, order_id, MEMBER, [PointsItem(points=30)], AT)
    assert again.state == "refused"  # the order's answer stays the same
    poor = await reservations.reserve(db, TENANT, uuid.uuid4(), MEMBER, [PointsItem(points=101)], AT)
    assert poor.reasons == {"points": "insufficient-points"}


async def _answers(db: asyncpg.Connection, order_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    """Loyalty's answers about the order, as ordering reads them: (type, data)."""
    rows = await db.fetch(
        "SELECT payload FROM outbox WHERE topic = 'internal.loyalty.reservation.v1' AND key = $1 ORDER BY id",
        str(order_id),
    )
    events = [json.loads(row["payload"]) for row in rows]
    return [(event["type"], event["data"]) for event in events]


async def test_a_reservation_settled_at_once_answers_held_and_settled_then_settled(
    db: asyncpg.Connection,
) -> None:
    _, number, pin = await _world(db)
    order_id = uuid.uuid4()
    items: list[reservations.Item] = [
        PointsItem(points=30),
        GiftCardItem(number=number, pin=pin, amount_minor=2000),
    ]

    settled = await reservations.reserve(db, TENANT, order_id, MEMBER, items, AT, settle=True)
    again = await reservations.reserve(db, TENANT, order_id, MEMBER, items, AT, settle=True)

    assert settled.state == again.state == "settled" and settled.acknowledged
    [(held, data), (repeated, _)] = await _answers(db, order_id)
    assert held == "loyalty.reservation.held" and data["settled"] is True
    assert (data["points"], data["gift_card_minor"]) == (30, 2000)
    assert repeated == "loyalty.reservation.settled"  # asked again: where it stands
    assert await reservations.release_unanswered(db, AT + reservations.HOLD + timedelta(days=1)) == 0
    account = await store.find_account(db, TENANT, MEMBER)
    assert account is not None and account.balance == 70
