"""Sponsor points on the fast tier: a sponsor earns on her recruits' confirmed orders by the tenant's
rule (a share of the eligible amount, a bonus on a recruit's first order) in a pot of their own, apart
from her purchase points; a cancelled order's share comes back off it; she spends them on her own
orders through the same reservation as purchase points, and gets them back when it is released."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.loyalty import reservations, sponsors
from services.loyalty.reservations import PointsItem, SponsorPointsItem
from services.loyalty.tests.conftest import Books
from services.loyalty.tests.test_reversal import cancelled
from tests.contracts.examples import example_event

pytestmark = pytest.mark.fast
AT = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


async def _team(books: Books) -> tuple[dict[str, object], dict[str, object]]:
    """A sponsor and her recruit in tenant A, as identity's account facts say; a 5 % rule with a
    bonus of 20 points on a recruit's first order."""
    sponsor, recruit = books.member(books.tenant_a, "sponsor"), books.member(books.tenant_a, "recruit")
    for member, sponsor_id in ((sponsor, None), (recruit, sponsor["account_id"])):
        await books.apply(
            example_event(
                "identity.account.facts_changed",
                books.tenant_a,
                subject=member["account_id"],
                account_id=member["account_id"],
                roles=["seller"],
                card_number=None,
                professional=False,
                shop_id=None,
                sponsor_id=sponsor_id,
                changed_at=AT,
            )
        )
    await sponsors.set_rule(
        books.db, books.tenant_a, sponsors.SponsorRule(percent_bp=500, first_order_points=20), AT
    )
    return sponsor, recruit


async def test_a_sponsor_earns_on_her_recruits_orders_in_a_pot_of_their_own(books: Books) -> None:
    sponsor, recruit = await _team(books)
    first, second = books.order(recruit, 10_000), books.order(recruit, 4_000)  # 100.00, then 40.00

    await books.apply(first, second, first)  # the first again: a replay

    account = await books.account(sponsor)
    assert account is not None and (account.balance, account.sponsor_balance) == (0, 5 + 20 + 2)
    entries = await books.ledger(sponsor)
    assert {(e.cause_type, e.points, e.pot) for e in entries} == {
        ("sponsor-order", 5, "sponsor"),
        ("sponsor-first-order", 20, "sponsor"),
        ("sponsor-order", 2, "sponsor"),
    }
    assert await books.balance(recruit) == 2 * (100 + 40)  # her own purchase points (2 per euro here)
    awarded = [e for _, e in await books.awarded() if e["subject"] == sponsor["account_id"]]
    assert {e["data"]["pot"] for e in awarded} == {"sponsor"}

    await books.apply(cancelled(recruit, first.data["order_id"]))
    account = await books.account(sponsor)
    assert account is not None and account.sponsor_balance == 20 + 2  # the bonus stays


async def test_no_rule_or_no_sponsor_earns_nothing(books: Books) -> None:
    sponsor, recruit = await _team(books)
    await sponsors.set_rule(books.db, books.tenant_a, sponsors.SponsorRule(), AT)
    await books.apply(books.order(recruit, 10_000), books.order(sponsor, 10_000))
    account = await books.account(sponsor)
    assert account is not None and (account.balance, account.sponsor_balance) == (200, 0)


async def test_sponsor_points_pay_her_orders_and_come_back_when_released(books: Books) -> None:
    sponsor, recruit = await _team(books)
    await books.apply(books.order(recruit, 10_000), books.order(sponsor, 3_000))  # 25 sponsor, 60 purchase
    order_id = uuid.uuid4()
    tenant, me = books.tenant_a, str(sponsor["account_id"])

    too_many = await reservations.reserve(
        books.db, tenant, uuid.uuid4(), me, [SponsorPointsItem(points=26)], AT
    )
    assert too_many.reasons == {"sponsor_points": "insufficient-points"}
    async with books.db.transaction():
        held = await reservations.reserve(
            books.db, tenant, order_id, me, [PointsItem(points=10), SponsorPointsItem(points=25)], AT
        )
    assert held.state == "held" and (held.points, held.sponsor_points) == (10, 25)
    account = await books.account(sponsor)
    assert account is not None and (account.balance, account.sponsor_balance) == (50, 0)

    async with books.db.transaction():
        await reservations.release(books.db, tenant, order_id, me, AT)
    account = await books.account(sponsor)
    assert account is not None and (account.balance, account.sponsor_balance) == (60, 25)
    ledger_sum = await books.db.fetchval(
        "SELECT sum(points) FROM ledger WHERE account_id = $1 AND pot = 'sponsor'", me
    )
    assert ledger_sum == account.sponsor_balance
