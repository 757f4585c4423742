"""Earning points from submitted orders: credited once per order, under the tenant's rule, announced.

Fast tier: the consumer's handler on a rolled-back connection. How the events arrive (redeliveries,
concurrent partitions, the relay) is in test_earning_delivery.py.
"""

from __future__ import annotations

import asyncpg
import pytest
from pydantic import ValidationError

from services.loyalty import store
from services.loyalty.tests.conftest import DEFAULT_POINTS_PER_UNIT, Books

pytestmark = pytest.mark.fast


async def test_a_submitted_order_credits_its_member_and_announces_the_points(books: Books) -> None:
    member = books.member_a
    event = books.order(member, 1299)  # 12.99 EUR at the default 2 points per euro: 25.98 → 25
    order_id = event.data["order_id"]

    await books.apply(event)

    assert await books.balance(member) == 25
    [entry] = await books.ledger(member)
    assert entry.kind == "earn" and entry.points == 25
    assert (entry.cause_type, entry.cause_id) == ("order", order_id)
    [(key, awarded)] = await books.awarded()
    assert key == member["account_id"]
    assert awarded["type"] == "loyalty.points.awarded"
    assert awarded["subject"] == member["account_id"] and awarded["tenantid"] == books.tenant_a
    data = awarded["data"]
    assert data.pop("awarded_at")
    assert data == {
        "account_id": member["account_id"],
        "entry_id": str(entry.entry_id),
        "points": 25,
        "balance": 25,
        "cause_type": "order",
        "cause_id": order_id,
        "pot": "purchase",
    }


async def test_an_order_replayed_under_a_new_event_id_awards_points_once(books: Books) -> None:
    member = books.member_a
    first = books.order(member, 1000)
    replayed = books.order(member, 1000, order_id=first.data["order_id"])  # same order, another event id
    assert first.id != replayed.id

    await books.apply(first, replayed)  # both applied; the order's unique cause stops the second

    assert await books.balance(member) == 20
    [entry] = await books.ledger(member)
    assert entry.cause_id == first.data["order_id"]
    assert len(await books.awarded()) == 1


async def test_the_tenants_rule_applies_and_an_order_earning_nothing_writes_nothing(books: Books) -> None:
    member = books.member_a
    await store.set_earning_rule(books.db, books.tenant_a, 10)

    await books.apply(books.order(member, 1250), books.order(member, 9))  # 125 points, then 0.9 → 0
    assert await books.balance(member) == 125
    assert [e.points for e in await books.ledger(member)] == [125]

    await store.set_earning_rule(books.db, books.tenant_a, 0)
    await books.apply(books.order(member, 50_000))
    assert await books.balance(member) == 125
    assert len(await books.ledger(member)) == 1
    assert len(await books.awarded()) == 1

    # Another tenant's members still earn the service default.
    await books.apply(books.order(books.member_b, 1250))
    assert await books.balance(books.member_b) == 1250 * DEFAULT_POINTS_PER_UNIT // 100


async def test_each_award_announces_the_balance_it_leaves(books: Books) -> None:
    member, other = books.member_a, books.member(books.tenant_a, "marc")
    totals = [1000, 2599, 50, 12_345, 700, 999, 101, 4000]

    await books.apply(*(books.order(member, t) for t in totals), books.order(other, 500))

    expected = sum(t * DEFAULT_POINTS_PER_UNIT // 100 for t in totals)
    ledger = await books.ledger(member)
    assert await books.balance(member) == sum(e.points for e in ledger) == expected
    assert len(ledger) == len([t for t in totals if t * DEFAULT_POINTS_PER_UNIT // 100 > 0])
    assert await books.balance(other) == 10
    mine = [e["data"] for _, e in await books.awarded() if e["data"]["account_id"] == member["account_id"]]
    running = 0
    for data in mine:
        running += data["points"]
        assert data["balance"] == running
    assert running == expected


@pytest.mark.parametrize("field", ["account_id", "order_id", "totals"])
async def test_a_malformed_order_event_fails_for_good_and_other_orders_still_earn(
    books: Books, field: str
) -> None:
    member = books.member_a
    broken = books.order(member, 1000)
    broken = broken.model_copy(update={"data": {k: v for k, v in broken.data.items() if k != field}})

    # A ValidationError is dead-lettered at once by the consumer (libs/common/consumer.py).
    with pytest.raises(ValidationError):
        await books.apply(broken)
    await books.apply(books.order(member, 500))

    assert await books.balance(member) == 10
    assert len(await books.awarded()) == 1


async def test_the_ledger_refuses_to_be_rewritten(books: Books) -> None:
    await books.apply(books.order(books.member_a, 1000))
    for statement in (
        "UPDATE ledger SET points = 1000 WHERE tenant_id = $1",
        "DELETE FROM ledger WHERE tenant_id = $1",
    ):
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            async with books.db.transaction():
                await books.db.execute(statement, books.tenant_a)
    assert await books.balance(books.member_a) == 20
