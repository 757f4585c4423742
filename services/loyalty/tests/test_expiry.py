"""Points expiry on the fast tier: the oldest points expire first, exactly once per day whatever
the number of passes, across the boundary of the tenant's months; members are warned once before;
and the rule, against a simulation of every point's age (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.loyalty import expiry, store
from services.loyalty.expiry import expiring, months_before
from services.loyalty.tests.conftest import Loyalty

pytestmark = pytest.mark.fast


def _simulated(operations: list[tuple[int, int]], cutoff: int) -> tuple[int, int]:
    """(what expires at `cutoff`, the balance): every point kept with its age, debits taking the oldest."""
    buckets: list[list[int]] = []  # [time, points left]
    for at, points in operations:
        if points > 0:
            buckets.append([at, points])
            continue
        owed = -points
        for bucket in buckets:
            taken = min(owed, bucket[1])
            bucket[1] -= taken
            owed -= taken
    old = sum(left for at, left in buckets if at < cutoff)
    return old, sum(left for _, left in buckets)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[tuple[int, int]], int]:
    """Earnings and debits in time order, no debit taking more than the balance holds."""
    operations, balance = [], 0
    for at in range(draw(st.integers(0, 30))):
        if balance and draw(st.booleans()):
            points = -draw(st.integers(1, balance))
        else:
            points = draw(st.integers(1, 500))
        balance += points
        operations.append((at, points))
    return operations, draw(st.integers(0, 31))


@settings(max_examples=300, deadline=None)
@given(histories())
def test_what_expires_is_what_is_left_of_the_points_earned_before_the_cutoff(
    history: tuple[list[tuple[int, int]], int],
) -> None:
    operations, cutoff = history
    earned_before = sum(p for at, p in operations if p > 0 and at < cutoff)
    consumed = -sum(p for _, p in operations if p < 0)
    balance = sum(p for _, p in operations)

    expected, simulated_balance = _simulated(operations, cutoff)

    assert expiring(earned_before, consumed, balance) == expected
    assert simulated_balance == balance and 0 <= expected <= balance


@pytest.mark.parametrize(
    ("at", "months", "expected"),
    [
        (datetime(2026, 3, 31, 12, tzinfo=UTC), 1, datetime(2026, 2, 28, 12, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), 12, datetime(2025, 1, 15, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), -13, datetime(2027, 2, 15, tzinfo=UTC)),
    ],
)
def test_months_are_calendar_months(at: datetime, months: int, expected: datetime) -> None:
    assert months_before(at, months) == expected


async def _earned(db: asyncpg.Connection, tenant: str, account: str, points: int, cause: str) -> None:
    async with db.transaction():
        await store.open_account(db, tenant, account)
        if points > 0:
            await store.post_entry(db, tenant, account, "earn", points, "test", cause)
        else:
            await store.post_entry(db, tenant, account, "redeem", points, "test", cause)


async def test_the_oldest_points_expire_once_across_the_boundary_and_are_announced(
    db: asyncpg.Connection,
) -> None:
    tenant = "brand-x"
    now = datetime.now(UTC)
    await _earned(db, tenant, "ana", 45, "a")
    await _earned(db, tenant, "ana", -20, "b")  # spent from the oldest: 25 of the 45 are left
    await _earned(db, tenant, "cleo", 10, "c")  # another member's expire the same day, in her entry

    async def run(at: datetime) -> int:
        async with db.transaction():
            return await expiry.expire_tenant(db, tenant, 12, at)

    assert await run(now + timedelta(days=364)) == 0  # not yet 12 months old
    assert await run(now + timedelta(days=367)) == 25 + 10
    assert await run(now + timedelta(days=367, hours=1)) == 0  # the same day again: nothing
    assert await run(now + timedelta(days=400)) == 0  # nothing left to expire
    account = await store.find_account(db, tenant, "ana")
    assert account is not None and account.balance == 0
    total = await db.fetchval(
        "SELECT sum(points) FROM ledger WHERE tenant_id = $1 AND account_id = 'ana'", tenant
    )
    assert total == account.balance
    types = await db.fetch(
        "SELECT convert_from(payload, 'UTF8')::jsonb -> 'data' AS data FROM outbox"
        " WHERE convert_from(payload, 'UTF8')::jsonb ->> 'type' = 'loyalty.points.expired'"
    )
    assert len(types) == 2


async def test_members_are_warned_once_before_their_points_expire(db: asyncpg.Connection) -> None:
    tenant = "brand-x"
    now = datetime.now(UTC)
    await _earned(db, tenant, "bea", 30, "a")

    async def warn(at: datetime) -> int:
        async with db.transaction():
            return await expiry.warn_tenant(db, tenant, 12, 30, at)

    assert await warn(now + timedelta(days=300)) == 0  # more than 30 days before
    assert await warn(now + timedelta(days=340)) == 1
    assert await warn(now + timedelta(days=345)) == 0  # warned already for that day
    row = await db.fetchrow("SELECT points, expires_on FROM expiry_warnings WHERE tenant_id = $1", tenant)
    assert row["points"] == 30 and row["expires_on"] == months_before(now, -12).date()


async def test_the_manager_sets_the_expiry_and_nobody_else(loyalty: Loyalty) -> None:
    assert await loyalty.call("GET", "/settings/expiry", loyalty.admin_a) == (
        200,
        {"expiry_months": None, "warning_days": 30},
    )
    body = {"expiry_months": 12, "warning_days": 15}
    assert await loyalty.call("PUT", "/settings/expiry", loyalty.admin_a, body) == (200, body)
    assert (await loyalty.call("GET", "/settings/expiry", loyalty.admin_a))[1] == body
    assert (await loyalty.call("GET", "/settings/expiry", loyalty.admin_b))[1]["expiry_months"] is None
    assert (await loyalty.call("PUT", "/settings/expiry", loyalty.member_a, body))[0] == 403
    for bad in ({"expiry_months": 0}, {"warning_days": 0}, {"expiry_months": "soon"}):
        assert (await loyalty.call("PUT", "/settings/expiry", loyalty.admin_a, body | bad))[0] == 422
    assert (await loyalty.call("GET", "/settings/expiry", loyalty.admin_a))[1] == body
