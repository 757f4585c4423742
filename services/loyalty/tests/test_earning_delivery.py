"""Earning points as orders are delivered: each order event applied once whatever the broker
redelivers, orders of one member applied concurrently from several partitions, awards relayed.

What one order earns is tested on the handler alone, in test_earning.py.
"""

from __future__ import annotations

import uuid

import pytest

from libs.devstack.testing import ServiceUnderTest, wait_until
from services.loyalty.tests.conftest import DEFAULT_POINTS_PER_UNIT, Loyalty

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def loyalty(running_service: ServiceUnderTest) -> Loyalty:
    """The service running on a stack: these tests are about delivery through the broker."""
    return Loyalty.fresh(running_service)


async def test_awarded_points_are_published_by_the_relay(loyalty: Loyalty) -> None:
    member = loyalty.member_a

    await loyalty.publish(loyalty.order(member, 1299))

    assert await loyalty.balance(member) == 25
    [(_, awarded)] = await loyalty.awarded()

    async def relayed() -> bool:
        published = await loyalty.db.fetchval(
            "SELECT published_at FROM outbox WHERE event_id = $1", uuid.UUID(awarded["id"])
        )
        return published is not None

    await wait_until(relayed, "the relay to publish loyalty.points.awarded")


async def test_a_redelivered_event_awards_points_once(loyalty: Loyalty) -> None:
    member = loyalty.member_a
    event = loyalty.order(member, 1000)

    await loyalty.publish(event, event)
    await loyalty.publish(event)

    assert await loyalty.balance(member) == 20
    assert len(await loyalty.ledger(member)) == 1
    assert len(await loyalty.awarded()) == 1


async def test_the_balance_equals_the_ledger_sum_after_many_orders(loyalty: Loyalty) -> None:
    member, other = loyalty.member_a, loyalty.member(loyalty.tenant_a, "marc")
    totals = [1000, 2599, 50, 12_345, 700, 999, 101, 4000]
    # Orders are keyed by order id: they spread over partitions and are applied concurrently.
    await loyalty.publish(*(loyalty.order(member, t) for t in totals), loyalty.order(other, 500))

    expected = sum(t * DEFAULT_POINTS_PER_UNIT // 100 for t in totals)
    ledger = await loyalty.ledger(member)
    assert await loyalty.balance(member) == sum(e["points"] for e in ledger) == expected
    assert len(ledger) == len([t for t in totals if t * DEFAULT_POINTS_PER_UNIT // 100 > 0])
    assert await loyalty.balance(other) == 10
    drifted = await loyalty.db.fetchval(
        "SELECT count(*) FROM accounts a WHERE tenant_id = $1 AND balance <>"
        " (SELECT sum(points) FROM ledger l WHERE l.tenant_id = a.tenant_id AND l.account_id = a.account_id)",
        loyalty.tenant_a,
    )
    assert drifted == 0
    # Each event's balance is the one before it plus its points: they chain up to the final balance.
    mine = sorted(
        (e["data"] for _, e in await loyalty.awarded() if e["data"]["account_id"] == member["account_id"]),
        key=lambda d: d["balance"],
    )
    running = 0
    for data in mine:
        running += data["points"]
        assert data["balance"] == running
    assert running == expected


async def test_a_malformed_order_event_is_dead_lettered_and_other_orders_still_earn(loyalty: Loyalty) -> None:
    member = loyalty.member_a
    broken = loyalty.order(member, 1000)
    broken = broken.model_copy(update={"data": {k: v for k, v in broken.data.items() if k != "account_id"}})

    await loyalty.send(broken)
    await loyalty.publish(loyalty.order(member, 500))

    async def dead() -> bool:
        return bool(
            await loyalty.db.fetchval("SELECT count(*) FROM dead_letters WHERE event_id = $1", broken.id)
        )

    await wait_until(dead, "the malformed event to be dead-lettered")
    assert await loyalty.balance(member) == 10
