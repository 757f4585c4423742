"""Closing a deleted member's points account (identity.account.deleted): her balance is forfeited
once and announced, and she earns nothing afterwards."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest

from libs.common.testing import wait_until
from services.loyalty.tests.conftest import Loyalty

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_deleted_members_points_are_forfeited_and_announced(loyalty: Loyalty) -> None:
    member = loyalty.member_a
    await loyalty.publish(loyalty.order(member, 1000), loyalty.order(member, 500))  # 20 + 10 points
    deletion = loyalty.deleted(member, reason="inactive")

    await loyalty.publish(deletion)

    status, account = await loyalty.call("GET", f"/accounts/{member['account_id']}", loyalty.admin_a)
    assert status == 200 and account["balance"] == 0
    assert datetime.fromisoformat(account["closed_at"]) == datetime.fromisoformat(deletion.data["deleted_at"])
    status, ledger = await loyalty.call("GET", f"/accounts/{member['account_id']}/ledger", loyalty.admin_a)
    assert status == 200
    forfeit = ledger[0]
    assert (forfeit["kind"], forfeit["points"]) == ("forfeit", -30)
    assert (forfeit["cause_type"], forfeit["cause_id"]) == ("account-deletion", str(deletion.id))
    assert sum(entry["points"] for entry in ledger) == 0

    [(key, event)] = await loyalty.forfeited()
    assert key == event["subject"] == member["account_id"]
    assert event["tenantid"] == loyalty.tenant_a
    assert event["dataschema"] == "urn:comptoir:event:loyalty.points.forfeited:v1"
    data = event["data"]
    assert data.pop("forfeited_at")
    assert data == {
        "account_id": member["account_id"],
        "entry_id": forfeit["entry_id"],
        "points": -30,
        "balance": 0,
        "cause_type": "account-deletion",
        "cause_id": str(deletion.id),
    }
    # It follows the member's awards on her key: a consumer of loyalty.points.v1 sees them in order.
    assert [e["type"] for _, e in await loyalty.points_events()][-1] == "loyalty.points.forfeited"

    async def relayed() -> bool:
        published = await loyalty.db.fetchval(
            "SELECT published_at FROM outbox WHERE event_id = $1", uuid.UUID(event["id"])
        )
        return published is not None

    await wait_until(relayed, "the relay to publish loyalty.points.forfeited")


async def test_a_redelivered_deletion_forfeits_once(loyalty: Loyalty) -> None:
    member = loyalty.member_a
    await loyalty.publish(loyalty.order(member, 1000))
    deletion = loyalty.deleted(member)

    await loyalty.publish(deletion, deletion)
    await loyalty.publish(deletion)
    # The same deletion announced again under another id (say, by the inactivity job too).
    await loyalty.publish(loyalty.deleted(member, reason="inactive"))

    ledger = await loyalty.ledger(member)
    assert [(e["kind"], e["points"]) for e in ledger] == [("forfeit", -20), ("earn", 20)]
    assert await loyalty.balance(member) == 0
    assert len(await loyalty.forfeited()) == 1


async def test_an_order_arriving_after_the_deletion_earns_nothing(loyalty: Loyalty) -> None:
    member = loyalty.member_a
    await loyalty.publish(loyalty.order(member, 1000))
    await loyalty.publish(loyalty.deleted(member))
    awarded_before = await loyalty.awarded()

    await loyalty.publish(loyalty.order(member, 5000))

    assert await loyalty.balance(member) == 0
    assert [e["kind"] for e in await loyalty.ledger(member)] == ["forfeit", "earn"]
    assert await loyalty.awarded() == awarded_before
    assert len(await loyalty.forfeited()) == 1


async def test_a_member_who_never_earned_is_closed_without_an_entry_and_earns_nothing_later(
    loyalty: Loyalty,
) -> None:
    member = loyalty.member_a

    await loyalty.publish(loyalty.deleted(member))
    await loyalty.publish(loyalty.order(member, 1000))

    status, account = await loyalty.call("GET", f"/accounts/{member['account_id']}", loyalty.admin_a)
    assert (status, account["balance"]) == (200, 0) and account["closed_at"]
    assert await loyalty.ledger(member) == []
    assert await loyalty.points_events() == []


async def test_a_deletion_closes_the_account_of_its_tenant_only(loyalty: Loyalty) -> None:
    member_a, member_b = loyalty.member_a, loyalty.member_b
    same_id_in_b = {**member_a, "tenant_id": loyalty.tenant_b}
    other_member_a = loyalty.member(loyalty.tenant_a, "marc")
    await loyalty.publish(
        loyalty.order(member_a, 1000), loyalty.order(same_id_in_b, 1000), loyalty.order(other_member_a, 1000)
    )

    await loyalty.publish(loyalty.deleted(member_a))
    await loyalty.publish(
        loyalty.order(same_id_in_b, 500), loyalty.order(other_member_a, 500), loyalty.order(member_b, 500)
    )

    assert await loyalty.balance(member_a) == 0
    assert await loyalty.balance(same_id_in_b) == 30
    assert await loyalty.balance(other_member_a) == 30
    assert await loyalty.balance(member_b) == 10
    [(key, _)] = await loyalty.forfeited()
    assert key == member_a["account_id"]


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


@pytest.mark.parametrize("broken", ["no account", "no tenant", "bad time"])
async def test_a_malformed_deletion_is_dead_lettered_and_closes_nothing(
    loyalty: Loyalty, broken: str
) -> None:
    member = loyalty.member_a
    await loyalty.publish(loyalty.order(member, 1000))
    deletion = loyalty.deleted(member)
    if broken == "no account":
        deletion = deletion.model_copy(update={"data": {**deletion.data, "account_id": ""}})
    elif broken == "no tenant":
        deletion = deletion.model_copy(update={"tenantid": ""})
    else:
        deletion = deletion.model_copy(update={"data": {**deletion.data, "deleted_at": "yesterday"}})

    await loyalty.send(deletion)

    async def dead() -> bool:
        return bool(
            await loyalty.db.fetchval("SELECT count(*) FROM dead_letters WHERE event_id = $1", deletion.id)
        )

    await wait_until(dead, "the malformed deletion to be dead-lettered")
    assert await loyalty.balance(member) == 20
    assert await loyalty.forfeited() == []
