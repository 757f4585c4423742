"""GET /messages: administrators only, scoped by tenant, newest first, filtered by account."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from libs.devstack.testing import InProcessService, OneConnection, TokenMinter, service_in_process
from services.notify import store
from services.notify.app import Settings, build_spec
from services.notify.domain import Contact, PointsEarned, render

pytestmark = pytest.mark.fast


@pytest.fixture
async def running(db: asyncpg.Connection, tokens: TokenMinter) -> AsyncIterator[InProcessService]:
    settings = Settings()
    async with service_in_process(db, build_spec(settings), settings, tokens=tokens) as service:
        yield service


@pytest.fixture
def api(running: InProcessService) -> tuple[aiohttp.ClientSession, str]:
    return running.http, running.url


@pytest.fixture
def pool(running: InProcessService) -> OneConnection:
    """The service's own pool: what the tests store, it reads."""
    return running.db


async def add(pool: asyncpg.Pool, tenant: str, account: str, *, known: bool = True) -> uuid.UUID:
    facts = PointsEarned(points=1, balance=1)
    to = Contact(email=f"{account}@example.test", display_name="", locale="fr")
    message = store.NewMessage(
        tenant_id=tenant,
        account_id=account,
        source_event_id=uuid.uuid4(),
        facts=facts,
        recipient=to.email if known else None,
        rendered=render(facts, to) if known else None,
    )
    async with pool.acquire() as conn:
        await store.add_message(conn, message)
    return message.id


FIELDS = {"id", "kind", "channel", "recipient", "subject", "status", "attempts", "error"}
FIELDS |= {"created_at", "sent_at", "erased_at"}


def admin(tokens: TokenMinter, tenant: str = "brand-a") -> dict[str, str]:
    return tokens.headers(account_id="admin", tenant_id=tenant, roles=["admin"])


async def test_account_filter_keeps_that_account_only(
    api: tuple[aiohttp.ClientSession, str], pool: asyncpg.Pool, tokens: TokenMinter
) -> None:
    http, url = api
    mine = await add(pool, "brand-a", "a1")
    await add(pool, "brand-a", "a2")

    async with http.get(f"{url}/messages", params={"account_id": "a1"}, headers=admin(tokens)) as resp:
        assert [m["id"] for m in await resp.json()] == [str(mine)]


async def test_only_administrators_may_read_messages(
    api: tuple[aiohttp.ClientSession, str], pool: asyncpg.Pool, tokens: TokenMinter
) -> None:
    http, url = api
    message_id = await add(pool, "brand-a", "a1")
    partner = tokens.headers(account_id="p1", tenant_id="brand-a", roles=["partner"])
    for path in ("/messages", f"/messages/{message_id}"):
        async with http.get(url + path, headers=partner) as resp:
            assert resp.status == 403
            assert resp.content_type == "application/problem+json"
        async with http.get(url + path) as resp:
            assert resp.status == 401


async def test_a_message_of_another_tenant_is_not_found(
    api: tuple[aiohttp.ClientSession, str], pool: asyncpg.Pool, tokens: TokenMinter
) -> None:
    http, url = api
    message_id = await add(pool, "brand-a", "a1")

    async with http.get(f"{url}/messages/{message_id}", headers=admin(tokens, "brand-b")) as resp:
        assert resp.status == 404
    async with http.get(f"{url}/messages", headers=admin(tokens, "brand-b")) as resp:
        assert await resp.json() == []
    async with http.get(f"{url}/messages/{message_id}", headers=admin(tokens)) as resp:
        assert resp.status == 200
        assert (await resp.json())["id"] == str(message_id)
    for unknown in (uuid.uuid4(), "not-a-uuid"):
        async with http.get(f"{url}/messages/{unknown}", headers=admin(tokens)) as resp:
            assert resp.status == 404


async def test_bad_query_is_a_422_problem(
    api: tuple[aiohttp.ClientSession, str], tokens: TokenMinter
) -> None:
    http, url = api
    for params in ({"limit": "0"}, {"limit": "many"}, {"colour": "red"}):
        async with http.get(f"{url}/messages", params=params, headers=admin(tokens)) as resp:
            assert resp.status == 422
            assert resp.content_type == "application/problem+json"


@pytest.mark.parametrize(
    ("query", "field"), [("account_id=%00", "account_id"), ("account_id=a%0Ab", "account_id")]
)
async def test_a_control_character_in_the_query_is_a_422_naming_the_parameter(
    api: tuple[aiohttp.ClientSession, str], tokens: TokenMinter, query: str, field: str
) -> None:
    http, url = api
    async with http.get(f"{url}/messages?{query}", headers=admin(tokens)) as resp:
        assert resp.status == 422
        assert [error["field"] for error in (await resp.json())["errors"]] == [field]
