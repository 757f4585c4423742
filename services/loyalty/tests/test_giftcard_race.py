"""Redemptions racing on one gift card, each in a transaction of its own (connections of their own,
committed): the card's row lock lets them take what it holds, and no more."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from libs.common.db import migrate, service_migrations
from libs.common.errors import Conflict
from libs.devstack.testing import Isolated
from services.loyalty import giftcards

AT = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
async def books(isolated: Isolated, pool: asyncpg.Pool) -> asyncpg.Pool:
    async with pool.acquire() as conn:
        await migrate(conn, isolated.name, service_migrations(Path(giftcards.__file__).parent))
    return pool


async def _card(pool: asyncpg.Pool, amount: int) -> tuple[str, str]:
    async with pool.acquire() as conn, conn.transaction():
        card, pin = await giftcards.sell(conn, "t", amount, "EUR", None, "staff", AT)
    assert pin is not None
    return card.number, pin


async def _redeem(pool: asyncpg.Pool, number: str, pin: str, amount: int) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        card = await giftcards.check_pin(conn, "t", number, pin, AT)
        try:
            await giftcards.redeem(conn, "t", card, amount, None, "staff", AT)
        except Conflict:
            return False
    return True


async def test_of_two_redemptions_of_the_whole_balance_exactly_one_wins(books: asyncpg.Pool) -> None:
    number, pin = await _card(books, 5000)

    won = await asyncio.gather(_redeem(books, number, pin, 5000), _redeem(books, number, pin, 5000))

    assert sorted(won) == [False, True]
    assert await books.fetchval("SELECT balance_minor FROM gift_cards") == 0


async def test_many_racing_redemptions_take_what_the_card_holds_and_no_more(books: asyncpg.Pool) -> None:
    number, pin = await _card(books, 5000)

    won = await asyncio.gather(*(_redeem(books, number, pin, 300) for _ in range(20)))

    assert won.count(True) == 16
    assert await books.fetchval("SELECT balance_minor FROM gift_cards") == 5000 - 16 * 300
    moves = await books.fetchval("SELECT sum(amount_minor) FROM gift_card_moves")
    assert moves == 5000 - 16 * 300  # the balance is the sum of its moves
