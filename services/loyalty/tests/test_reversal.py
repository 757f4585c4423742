"""Taking back what a cancelled order earned: once, never below zero (the rest is the entry's
shortfall), announced; nothing for an order that earned nothing or a closed account. Fast tier."""

from __future__ import annotations

import uuid

import pytest

from libs.common.events import Envelope
from services.loyalty import store
from services.loyalty.domain import returned_share, reversal
from services.loyalty.tests.conftest import Books, Caller
from tests.contracts.examples import example_event

pytestmark = pytest.mark.fast


def cancelled(caller: Caller, order_id: str) -> Envelope:
    """Ordering's example of ordering.order.cancelled for this order (a refund to the balance too)."""
    return example_event(
        "ordering.order.cancelled",
        caller["tenant_id"],
        subject=order_id,
        order_id=order_id,
        account_id=caller["account_id"],
        index=1,
    )


async def test_a_cancelled_order_gives_back_what_it_earned_once_and_announces_it(books: Books) -> None:
    member = books.member_a
    kept, gone = books.order(member, 1000), books.order(member, 1299)  # 20 and 25 points
    await books.apply(kept, gone)
    order_id = gone.data["order_id"]

    await books.apply(cancelled(member, order_id), cancelled(member, order_id))  # the second: a replay

    assert await books.balance(member) == 20
    reverse = (await books.ledger(member))[0]
    assert (reverse.kind, reverse.points, reverse.shortfall) == ("reverse", -25, 0)
    assert (reverse.cause_type, reverse.cause_id) == ("order-cancelled", order_id)
    [reversed_] = [e for _, e in await books.points_events() if e["type"] == "loyalty.points.reversed"]
    data = reversed_["data"]
    assert (data["points"], data["shortfall"], data["balance"], data["cause_id"]) == (-25, 0, 20, order_id)


async def test_a_confirmed_order_cancelled_because_its_payment_failed_gives_back_what_it_earned(
    books: Books,
) -> None:
    member = books.member_a
    earned = books.order(member, 1299)  # 25 points
    await books.apply(earned)
    order_id = earned.data["order_id"]
    refused = example_event(
        "ordering.order.payment_refused",
        member["tenant_id"],
        subject=order_id,
        order_id=order_id,
        account_id=member["account_id"],
    )

    await books.apply(refused, refused)

    assert await books.balance(member) == 0
    reverse = (await books.ledger(member))[0]
    assert (reverse.kind, reverse.points, reverse.cause_id) == ("reverse", -25, order_id)


async def test_points_spent_meanwhile_are_a_shortfall_and_the_balance_stays_at_zero(books: Books) -> None:
    member = books.member_a
    earned = books.order(member, 1299)  # 25 points
    await books.apply(earned)
    async with books.db.transaction():
        await store.open_account(books.db, books.tenant_a, member["account_id"])
        await store.post_entry(books.db, books.tenant_a, member["account_id"], "redeem", -20, "reward", "r-1")

    await books.apply(cancelled(member, earned.data["order_id"]))

    assert await books.balance(member) == 0
    reverse = (await books.ledger(member))[0]
    assert (reverse.points, reverse.shortfall) == (-5, 20)


async def test_an_order_that_earned_nothing_or_a_closed_account_takes_nothing_back(books: Books) -> None:
    member = books.member_a
    await books.apply(cancelled(member, str(uuid.uuid4())))
    assert await books.ledger(member) == []

    earned = books.order(member, 1299)
    await books.apply(earned, books.deleted(member), cancelled(member, earned.data["order_id"]))
    assert [entry.kind for entry in await books.ledger(member)] == ["forfeit", "earn"]


def test_a_reversal_takes_what_the_balance_holds_and_the_rest_is_shortfall() -> None:
    assert reversal(25, 100) == (-25, 0)
    assert reversal(25, 5) == (-5, 20)
    assert reversal(25, 0) == (0, 25)
    assert reversal(25, -3) == (0, 25)


def accepted(caller: Caller, order_id: str, returned_minor: int, order_minor: int) -> Envelope:
    """Ordering's example of ordering.return.accepted: `returned_minor` of `order_minor` came back."""
    return_id = str(uuid.uuid4())
    return example_event(
        "ordering.return.accepted",
        caller["tenant_id"],
        subject=return_id,
        return_id=return_id,
        order_id=order_id,
        account_id=caller["account_id"],
        returned_goods_minor=returned_minor,
        order_goods_minor=order_minor,
    )


async def test_a_return_takes_back_its_share_of_the_points_once_per_return(books: Books) -> None:
    member = books.member_a
    earned = books.order(member, 1299)  # 25 points
    await books.apply(earned)
    order_id = earned.data["order_id"]
    first = accepted(member, order_id, 433, 1299)  # a third of the goods: 8 points (rounded down)

    await books.apply(first, first.model_copy(update={"id": uuid.uuid4()}))  # the second: a replay

    assert await books.balance(member) == 25 - 8
    reverse = (await books.ledger(member))[0]
    assert (reverse.points, reverse.cause_type, reverse.cause_id) == (
        -8,
        "order-returned",
        first.data["return_id"],
    )
    await books.apply(accepted(member, order_id, 866, 1299))  # the rest: 16 points
    assert await books.balance(member) == 1  # returns of every line never take back more than earned


def test_the_returned_share_is_rounded_down() -> None:
    assert returned_share(25, 433, 1299) == 8
    assert returned_share(25, 1299, 1299) == 25
    assert returned_share(25, 5000, 1299) == 25
    assert returned_share(25, 100, 0) == 0
