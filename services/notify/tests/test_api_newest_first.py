"""GET /messages lists newest first: messages stored in transactions of their own, at different
times (the full tier; the rest of the route is tested on the fast tier in test_api.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from libs.devstack.testing import Isolated, TokenMinter, service_running
from services.notify.app import build_spec
from services.notify.tests.conftest import notify_settings
from services.notify.tests.test_api import FIELDS, add, admin


@pytest.fixture
async def api(isolated: Isolated, tokens: TokenMinter) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    settings = notify_settings(isolated, role="api")
    async with (
        service_running(build_spec(settings), settings, tokens) as url,
        aiohttp.ClientSession() as http,
    ):
        yield http, url


async def test_admin_lists_the_tenant_messages_newest_first(
    api: tuple[aiohttp.ClientSession, str], pool: asyncpg.Pool, tokens: TokenMinter
) -> None:
    http, url = api
    older = await add(pool, "brand-a", "a1")
    newer = await add(pool, "brand-a", "a2", known=False)
    await add(pool, "brand-b", "b1")

    async with http.get(f"{url}/messages", headers=admin(tokens)) as resp:
        assert resp.status == 200
        listed = await resp.json()

    assert [m["id"] for m in listed] == [str(newer), str(older)]
    waiting = listed[0]
    assert set(waiting) == FIELDS
    assert (waiting["status"], waiting["recipient"], waiting["subject"]) == ("waiting_contact", None, None)
    assert listed[1]["kind"] == "points_earned" and listed[1]["channel"] == "email"
