"""Closing a deleted member's points account while her orders are still being delivered: orders
and the deletion travel on different keys, hence partitions, and are applied concurrently.

What a deletion does is tested on the handlers alone, in test_closing.py.
"""

from __future__ import annotations

import asyncio

import pytest

from libs.devstack.testing import ServiceUnderTest
from services.loyalty.tests.conftest import Loyalty

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def loyalty(running_service: ServiceUnderTest) -> Loyalty:
    """The service running on a stack: these tests are about delivery through the broker."""
    return Loyalty.fresh(running_service)


async def test_orders_racing_the_deletion_leave_a_closed_account_at_zero(loyalty: Loyalty) -> None:
    member = loyalty.member_a
    await loyalty.publish(loyalty.order(member, 1000))
    orders = [loyalty.order(member, total) for total in (300, 400, 500, 600, 700, 800)]

    # Orders are keyed by order id, the deletion by account id: they are applied concurrently.
    await asyncio.gather(loyalty.publish(*orders), loyalty.publish(loyalty.deleted(member)))

    ledger = await loyalty.ledger(member)  # newest first
    assert await loyalty.balance(member) == sum(e["points"] for e in ledger) == 0
    assert ledger[0]["kind"] == "forfeit"
    assert [e["kind"] for e in ledger[1:]] == ["earn"] * (len(ledger) - 1)
    awarded = [e for _, e in await loyalty.awarded()]
    assert len(awarded) == len(ledger) - 1
    [(_, forfeited)] = await loyalty.forfeited()
    assert forfeited["data"]["points"] == -max(e["data"]["balance"] for e in awarded)
