"""Redemptions racing on one code, each in a transaction of its own (connections of their own,
committed): exactly one wins, whatever their number and whatever wrong or expired codes hypothesis
mixes in."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.common.db import migrate, service_migrations
from libs.common.errors import Conflict, Gone, NotFound
from libs.devstack.testing import Isolated
from services.loyalty import vouchers

AT = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
async def books(isolated: Isolated, pool: asyncpg.Pool) -> asyncpg.Pool:
    async with pool.acquire() as conn:
        await migrate(conn, isolated.name, service_migrations(Path(vouchers.__file__).parent))
    return pool


async def _voucher(pool: asyncpg.Pool) -> str:
    """A code issued to a member, written as the issue writes it."""
    code, program_id = vouchers.new_code(), uuid.uuid4()
    await pool.execute(
        "INSERT INTO programs (tenant_id, program_id, spec, created_at) VALUES ('t', $1, '{}', $2)",
        program_id,
        AT,
    )
    await pool.execute(
        "INSERT INTO vouchers (tenant_id, voucher_id, account_id, program_id, code_digest, code_hint, points,"
        " issued_at, expires_at)"
        " VALUES ('t', $1, 'member', $2, $3, $4, 0, $5::timestamptz, $5::timestamptz + interval '90 days')",
        uuid.uuid4(),
        program_id,
        vouchers.digest(code),
        code[-4:],
        AT,
    )
    return code


async def _redeem(pool: asyncpg.Pool, code: str) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        try:
            await vouchers.redeem(conn, "t", code, "staff", None, AT)
        except Conflict:
            return False
    return True


@pytest.mark.parametrize("racers", [2, 20])
async def test_of_redemptions_racing_on_one_code_exactly_one_wins(books: asyncpg.Pool, racers: int) -> None:
    code = await _voucher(books)

    won = await asyncio.gather(*(_redeem(books, code) for _ in range(racers)))

    assert won.count(True) == 1
    assert await books.fetchval("SELECT count(*) FROM outbox WHERE topic = 'loyalty.voucher.v1'") == 1


async def _outcome(pool: asyncpg.Pool, code: str) -> str:
    async with pool.acquire() as conn, conn.transaction():
        try:
            await vouchers.redeem(conn, "t", code, "staff", None, AT)
        except Conflict:
            return "used"
        except NotFound:
            return "unknown"
        except Gone:
            return "expired"
    return "won"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(2, 8), st.integers(0, 3), st.booleans())
async def test_any_crowd_on_one_code_has_one_winner_at_most_and_strangers_none(
    books: asyncpg.Pool, racers: int, strangers: int, expired: bool
) -> None:
    code = await _voucher(books)
    if expired:
        await books.execute(
            "UPDATE vouchers SET expires_at = $2 WHERE code_digest = $1", vouchers.digest(code), AT
        )
    published = await books.fetchval("SELECT count(*) FROM outbox")

    outcomes = await asyncio.gather(
        *(_outcome(books, code) for _ in range(racers)),
        *(_outcome(books, vouchers.new_code()) for _ in range(strangers)),
    )

    mine, theirs = outcomes[:racers], outcomes[racers:]
    assert theirs == ["unknown"] * strangers
    if expired:
        assert mine == ["expired"] * racers
    else:
        assert sorted(mine) == ["used"] * (racers - 1) + ["won"]
    redeemed = await books.fetchval(
        "SELECT redeemed_at IS NOT NULL FROM vouchers WHERE code_digest = $1", vouchers.digest(code)
    )
    assert redeemed is (not expired)
    assert await books.fetchval("SELECT count(*) FROM outbox") == published + (0 if expired else 1)
