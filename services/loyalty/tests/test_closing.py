"""Closing a deleted member's points account (identity.account.deleted): her balance is forfeited
once and announced, and she earns nothing afterwards.

Fast tier: the consumer's handlers on a rolled-back connection. Orders racing the deletion through
the broker are in test_closing_delivery.py.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from libs.common.consumer import PermanentError
from services.loyalty.tests.conftest import Books

pytestmark = pytest.mark.fast


async def test_a_deleted_members_points_are_forfeited_and_announced(books: Books) -> None:
    member = books.member_a
    await books.apply(books.order(member, 1000), books.order(member, 500))  # 20 + 10 points
    deletion = books.deleted(member, reason="inactive")

    await books.apply(deletion)

    account = await books.account(member)
    assert account is not None and account.balance == 0
    assert account.closed_at == datetime.fromisoformat(deletion.data["deleted_at"])
    ledger = await books.ledger(member)
    forfeit = ledger[0]
    assert (forfeit.kind, forfeit.points) == ("forfeit", -30)
    assert (forfeit.cause_type, forfeit.cause_id) == ("account-deletion", str(deletion.id))
    assert sum(entry.points for entry in ledger) == 0

    [(key, event)] = await books.forfeited()
    assert key == event["subject"] == member["account_id"]
    assert event["tenantid"] == books.tenant_a
    assert event["dataschema"] == "urn:comptoir:event:loyalty.points.forfeited:v1"
    data = event["data"]
    assert data.pop("forfeited_at")
    assert data == {
        "account_id": member["account_id"],
        "entry_id": str(forfeit.entry_id),
        "points": -30,
        "balance": 0,
        "cause_type": "account-deletion",
        "cause_id": str(deletion.id),
    }
    # It follows the member's awards on her key: a consumer of loyalty.points.v1 sees them in order.
    assert [e["type"] for _, e in await books.points_events()][-1] == "loyalty.points.forfeited"


async def test_a_deletion_applied_again_forfeits_once(books: Books) -> None:
    member = books.member_a
    await books.apply(books.order(member, 1000))
    deletion = books.deleted(member)

    await books.apply(deletion, deletion)
    # The same deletion announced again under another id (say, by the inactivity job too).
    await books.apply(books.deleted(member, reason="inactive"))

    ledger = await books.ledger(member)
    assert [(e.kind, e.points) for e in ledger] == [("forfeit", -20), ("earn", 20)]
    assert await books.balance(member) == 0
    assert len(await books.forfeited()) == 1


async def test_an_order_arriving_after_the_deletion_earns_nothing(books: Books) -> None:
    member = books.member_a
    await books.apply(books.order(member, 1000))
    await books.apply(books.deleted(member))
    awarded_before = await books.awarded()

    await books.apply(books.order(member, 5000))

    assert await books.balance(member) == 0
    assert [e.kind for e in await books.ledger(member)] == ["forfeit", "earn"]
    assert await books.awarded() == awarded_before
    assert len(await books.forfeited()) == 1


async def test_a_member_who_never_earned_is_closed_without_an_entry_and_earns_nothing_later(
    books: Books,
) -> None:
    member = books.member_a

    await books.apply(books.deleted(member))
    await books.apply(books.order(member, 1000))

    account = await books.account(member)
    assert account is not None and account.balance == 0 and account.closed_at
    assert await books.ledger(member) == []
    assert await books.points_events() == []


async def test_a_deletion_closes_the_account_of_its_tenant_only(books: Books) -> None:
    member_a, member_b = books.member_a, books.member_b
    same_id_in_b = {**member_a, "tenant_id": books.tenant_b}
    other_member_a = books.member(books.tenant_a, "marc")
    await books.apply(
        books.order(member_a, 1000), books.order(same_id_in_b, 1000), books.order(other_member_a, 1000)
    )

    await books.apply(books.deleted(member_a))
    await books.apply(
        books.order(same_id_in_b, 500), books.order(other_member_a, 500), books.order(member_b, 500)
    )

    assert await books.balance(member_a) == 0
    assert await books.balance(same_id_in_b) == 30
    assert await books.balance(other_member_a) == 30
    assert await books.balance(member_b) == 10
    [(key, _)] = await books.forfeited()
    assert key == member_a["account_id"]


@pytest.mark.parametrize("broken", ["no account", "no tenant", "bad time"])
async def test_a_malformed_deletion_fails_for_good_and_closes_nothing(books: Books, broken: str) -> None:
    member = books.member_a
    await books.apply(books.order(member, 1000))
    deletion = books.deleted(member)
    if broken == "no account":
        deletion = deletion.model_copy(update={"data": {**deletion.data, "account_id": ""}})
    elif broken == "no tenant":
        deletion = deletion.model_copy(update={"tenantid": ""})
    else:
        deletion = deletion.model_copy(update={"data": {**deletion.data, "deleted_at": "yesterday"}})

    # Both are dead-lettered at once by the consumer (libs/common/consumer.py).
    with pytest.raises((ValidationError, PermanentError)):
        await books.apply(deletion)

    assert await books.balance(member) == 20
    assert await books.forfeited() == []
