"""Business limits on points: one entry moves at most 10^9 points, a balance holds at most 10^12, a
rule gives at most 10,000 points per unit; an order beyond them is dead-lettered, never credited."""

from __future__ import annotations

import asyncpg
import pytest

from libs.common.events import Envelope
from libs.common.limits import MAX_BALANCE, MAX_ENTRY_POINTS, MAX_ORDER_TOTAL_MINOR
from libs.devstack.testing import wait_until
from services.loyalty.domain import MAX_POINTS_PER_UNIT
from services.loyalty.tests.conftest import Loyalty

pytestmark = pytest.mark.fast


async def dead_lettered(loyalty: Loyalty, event: Envelope) -> None:
    async def dead() -> bool:
        count = await loyalty.db.fetchval("SELECT count(*) FROM dead_letters WHERE event_id = $1", event.id)
        return bool(count)

    await wait_until(dead, f"event {event.id} to be dead-lettered")


async def test_an_order_total_at_the_limit_earns_and_one_minor_unit_more_is_dead_lettered(
    loyalty: Loyalty,
) -> None:
    member = loyalty.member_a
    status, _ = await loyalty.call("PUT", "/rules/earning", loyalty.admin_a, {"points_per_unit": 1})
    assert status == 200

    over = loyalty.order(member, MAX_ORDER_TOTAL_MINOR + 1)
    await loyalty.send(over)
    await dead_lettered(loyalty, over)
    await loyalty.publish(loyalty.order(member, MAX_ORDER_TOTAL_MINOR))

    # 10^11 minor units at one point per unit: exactly the most one entry may credit.
    assert await loyalty.balance(member) == MAX_ENTRY_POINTS
    assert [entry["points"] for entry in await loyalty.ledger(member)] == [MAX_ENTRY_POINTS]


async def test_an_order_earning_more_than_one_entry_may_credit_is_dead_lettered(loyalty: Loyalty) -> None:
    member = loyalty.member_a
    status, _ = await loyalty.call("PUT", "/rules/earning", loyalty.admin_a, {"points_per_unit": 10})
    assert status == 200

    # 10 points per unit: 10^8 units earn 10^9 points (accepted), one unit more earns 10 too many.
    too_much = loyalty.order(member, (MAX_ENTRY_POINTS // 10 + 1) * 100)
    await loyalty.send(too_much)
    await dead_lettered(loyalty, too_much)
    await loyalty.publish(loyalty.order(member, MAX_ENTRY_POINTS // 10 * 100))

    assert await loyalty.balance(member) == MAX_ENTRY_POINTS


async def test_an_order_that_would_bring_a_balance_over_its_limit_is_dead_lettered(loyalty: Loyalty) -> None:
    member = loyalty.member_a
    await loyalty.publish(loyalty.order(member, 500))  # opens the account: 10 points
    # Years of earning, condensed: the balance a few points short of the limit.
    await loyalty.db.execute(
        "UPDATE accounts SET balance = $3 WHERE tenant_id = $1 AND account_id = $2",
        loyalty.tenant_a,
        member["account_id"],
        MAX_BALANCE - 4,
    )

    beyond = loyalty.order(member, 300)  # 6 points
    await loyalty.send(beyond)
    await dead_lettered(loyalty, beyond)
    await loyalty.publish(loyalty.order(member, 200))  # 4 points: exactly the limit

    assert await loyalty.balance(member) == MAX_BALANCE


async def test_an_earning_rule_is_at_most_the_limit(loyalty: Loyalty) -> None:
    assert (
        await loyalty.call("PUT", "/rules/earning", loyalty.admin_a, {"points_per_unit": MAX_POINTS_PER_UNIT})
    )[0] == 200
    status, problem = await loyalty.call(
        "PUT", "/rules/earning", loyalty.admin_a, {"points_per_unit": MAX_POINTS_PER_UNIT + 1}
    )
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["points_per_unit"]


LEDGER_ENTRY = (
    "INSERT INTO ledger (entry_id, tenant_id, account_id, kind, points, cause_type, cause_id)"
    " VALUES (gen_random_uuid(), $1, $2, '{kind}', $3, 'test', 'direct')"
)
BALANCE = "UPDATE accounts SET balance = $3 WHERE tenant_id = $1 AND account_id = $2"


@pytest.mark.parametrize(
    ("statement", "value"),
    [
        (LEDGER_ENTRY.format(kind="adjust"), MAX_ENTRY_POINTS + 1),
        (LEDGER_ENTRY.format(kind="adjust"), -(MAX_ENTRY_POINTS + 1)),
        (LEDGER_ENTRY.format(kind="forfeit"), -(MAX_BALANCE + 1)),
        (BALANCE, MAX_BALANCE + 1),
        (BALANCE, -(MAX_BALANCE + 1)),
    ],
)
async def test_the_database_refuses_amounts_over_the_limits_written_directly(
    loyalty: Loyalty, statement: str, value: int
) -> None:
    member = loyalty.member_a
    await loyalty.publish(loyalty.order(member, 500))
    with pytest.raises(asyncpg.CheckViolationError):
        await loyalty.db.execute(statement, loyalty.tenant_a, member["account_id"], value)
    with pytest.raises(asyncpg.CheckViolationError):
        await loyalty.db.execute(
            "INSERT INTO earning_rules (tenant_id, points_per_unit) VALUES ($1, $2)",
            loyalty.tenant_b,
            MAX_POINTS_PER_UNIT + 1,
        )
