"""Spends racing for one balance, each in a transaction of its own (the full tier: connections of
their own, committed): the balance's row lock lets exactly as many win as it can pay, never below 0."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from libs.common.db import migrate, service_migrations
from libs.devstack.testing import Isolated
from services.ordering import balance
from services.ordering.balance import InsufficientBalance

AT = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
async def ledger(isolated: Isolated, pool: asyncpg.Pool) -> asyncpg.Pool:
    async with pool.acquire() as conn:
        await migrate(conn, isolated.name, service_migrations(Path(balance.__file__).parent))
    return pool


async def spend(pool: asyncpg.Pool, amount: int) -> bool:
    """One spend in its own transaction: True when it was paid."""
    async with pool.acquire() as conn, conn.transaction():
        try:
            await balance.post(conn, "t", "buyer", "spend", -amount, "EUR", f"order:{uuid.uuid4()}", AT)
        except InsufficientBalance:
            return False
    return True


async def credit(pool: asyncpg.Pool, amount: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await balance.post(conn, "t", "buyer", "top_up", amount, "EUR", f"payment:{uuid.uuid4()}", AT)


async def test_of_two_spends_of_the_whole_balance_exactly_one_wins(ledger: asyncpg.Pool) -> None:
    await credit(ledger, 5000)

    won = await asyncio.gather(spend(ledger, 5000), spend(ledger, 5000))

    assert sorted(won) == [False, True]
    assert (await balance.balance_of(ledger, "t", "buyer")).balance_minor == 0
    assert await ledger.fetchval("SELECT count(*) FROM balance_entries WHERE kind = 'spend'") == 1


async def test_many_racing_spends_take_what_the_balance_holds_and_no_more(ledger: asyncpg.Pool) -> None:
    await credit(ledger, 5000)

    won = await asyncio.gather(*(spend(ledger, 300) for _ in range(20)))

    assert won.count(True) == 16  # 16 x 3.00 = 48.00 of 50.00
    held = await balance.balance_of(ledger, "t", "buyer")
    assert held.balance_minor == 200
    total = await ledger.fetchval("SELECT sum(amount_minor) FROM balance_entries")
    assert total == held.balance_minor  # the balance is the sum of its entries
