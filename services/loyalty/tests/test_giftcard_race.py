"""Redemptions racing on one gift card, each in a transaction of its own (connections of their own,
committed): the card's row lock lets them take what it holds, and no more — for two and twenty
racers, and for any mix of amounts and wrong PINs hypothesis draws."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.common.db import migrate, service_migrations
from libs.common.errors import Conflict
from libs.devstack.testing import Isolated
from services.loyalty import giftcards
from services.loyalty.giftcards import WrongPin

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


async def _attempt(pool: asyncpg.Pool, number: str, pin: str, amount: int) -> str:
    """One redemption as the API makes it: a wrong PIN is counted (committed) though refused."""
    async with pool.acquire() as conn, conn.transaction():
        try:
            card = await giftcards.check_pin(conn, "t", number, pin, AT)
            await giftcards.redeem(conn, "t", card, amount, None, "staff", AT)
        except WrongPin:
            return "wrong"
        except Conflict as refused:
            return "locked" if refused.kind == "gift-card-locked" else "short"
    return "won"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.integers(1, 10_000),
    st.lists(st.tuples(st.integers(1, 6_000), st.booleans()), min_size=2, max_size=8),
)
async def test_any_racing_mix_of_redemptions_never_overdraws_nor_spends_without_the_pin(
    books: asyncpg.Pool, amount: int, attempts: list[tuple[int, bool]]
) -> None:
    number, pin = await _card(books, amount)
    wrong = "000000" if pin != "000000" else "111111"

    outcomes = await asyncio.gather(
        *(_attempt(books, number, pin if right else wrong, asked) for asked, right in attempts)
    )

    card = await books.fetchrow(
        "SELECT card_id, balance_minor, locked_at FROM gift_cards WHERE number = $1", number
    )
    won = [asked for (asked, _), outcome in zip(attempts, outcomes, strict=True) if outcome == "won"]
    assert card["balance_minor"] == amount - sum(won) >= 0
    moves = await books.fetchval(
        "SELECT sum(amount_minor) FROM gift_card_moves WHERE card_id = $1", card["card_id"]
    )
    assert moves == card["balance_minor"]  # the balance is the sum of its moves
    for (asked, right), outcome in zip(attempts, outcomes, strict=True):
        assert (outcome == "wrong") == (not right) or outcome == "locked", "a wrong PIN never spends"
        if outcome == "short":  # refused for want of money: it asked more than was left at the end
            assert asked > card["balance_minor"]
    if sum(not right for _, right in attempts) < giftcards.MAX_WRONG_PINS:
        assert card["locked_at"] is None and "locked" not in outcomes
