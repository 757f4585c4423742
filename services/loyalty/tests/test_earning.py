"""Earning points from submitted orders: credited once per order, under the tenant's rule, announced."""

from __future__ import annotations

import uuid

import pytest

from libs.common.testing import wait_until
from services.loyalty.tests.conftest import DEFAULT_POINTS_PER_UNIT, Loyalty

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_submitted_order_credits_its_member_and_announces_the_points(loyalty: Loyalty) -> None:
    member = loyalty.member_a
    event = loyalty.order(member, 1299)  # 12.99 EUR at the default 2 points per euro: 25.98 → 25
    order_id = event.data["order_id"]

    await loyalty.publish(event)

    assert await loyalty.balance(member) == 25
    [entry] = await loyalty.ledger(member)
    assert entry["kind"] == "earn" and entry["points"] == 25
    assert (entry["cause_type"], entry["cause_id"]) == ("order", order_id)
    [(key, awarded)] = await loyalty.awarded()
    assert key == member["account_id"]
    assert awarded["type"] == "loyalty.points.awarded"
    assert awarded["subject"] == member["account_id"] and awarded["tenantid"] == loyalty.tenant_a
    data = awarded["data"]
    assert data.pop("awarded_at")
    assert data == {
        "account_id": member["account_id"],
        "entry_id": entry["entry_id"],
        "points": 25,
        "balance": 25,
        "cause_type": "order",
        "cause_id": order_id,
    }

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


async def test_an_order_replayed_under_a_new_event_id_awards_points_once(loyalty: Loyalty) -> None:
    member = loyalty.member_a
    order_id = uuid.uuid4()
    first = loyalty.order(member, 1000, order_id=order_id)
    replayed = loyalty.order(member, 1000, order_id=order_id)  # same order, another event id
    assert first.id != replayed.id

    await loyalty.publish(first, replayed)

    inboxed = await loyalty.db.fetchval(
        "SELECT count(*) FROM inbox WHERE event_id = ANY($1)", [first.id, replayed.id]
    )
    assert inboxed == 2  # both events were applied; the order's unique cause stopped the second
    assert await loyalty.balance(member) == 20
    [entry] = await loyalty.ledger(member)
    assert entry["cause_id"] == str(order_id)
    assert len(await loyalty.awarded()) == 1


async def test_the_tenants_rule_applies_and_an_order_earning_nothing_writes_nothing(loyalty: Loyalty) -> None:
    member, admin = loyalty.member_a, loyalty.admin_a
    status, _ = await loyalty.call("PUT", "/rules/earning", admin, {"points_per_unit": 10})
    assert status == 200

    await loyalty.publish(loyalty.order(member, 1250), loyalty.order(member, 9))  # 125 points, then 0.9 → 0
    assert await loyalty.balance(member) == 125
    assert [e["points"] for e in await loyalty.ledger(member)] == [125]

    status, _ = await loyalty.call("PUT", "/rules/earning", admin, {"points_per_unit": 0})
    assert status == 200
    await loyalty.publish(loyalty.order(member, 50_000))
    assert await loyalty.balance(member) == 125
    assert len(await loyalty.ledger(member)) == 1
    assert len(await loyalty.awarded()) == 1

    # Another tenant's members still earn the service default.
    await loyalty.publish(loyalty.order(loyalty.member_b, 1250))
    assert await loyalty.balance(loyalty.member_b) == 1250 * DEFAULT_POINTS_PER_UNIT // 100


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


async def test_the_ledger_refuses_to_be_rewritten(loyalty: Loyalty) -> None:
    await loyalty.publish(loyalty.order(loyalty.member_a, 1000))
    for statement in (
        "UPDATE ledger SET points = 1000 WHERE tenant_id = $1",
        "DELETE FROM ledger WHERE tenant_id = $1",
    ):
        with pytest.raises(Exception, match="append-only"):
            await loyalty.db.execute(statement, loyalty.tenant_a)
    assert await loyalty.balance(loyalty.member_a) == 20
