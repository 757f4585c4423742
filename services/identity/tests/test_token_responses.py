"""Every answer that carries a token tells caches never to keep it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.identity.tests.credentials_support import (
    NEW_PASSWORD,
    PASSWORD,
    Credentials,
    add_account,
    add_tenant,
    identity_in_process,
)

pytestmark = pytest.mark.fast


@pytest.fixture
async def ident(db: asyncpg.Connection) -> AsyncIterator[Credentials]:
    async with identity_in_process(db) as running:
        yield running


async def test_sign_in_refresh_and_a_required_password_change_answer_no_store(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    await add_account(ident.db, tenant, "claire@pharmacie.test")
    await add_account(ident.db, tenant, "b2b@client.test", password_change_required=True)

    signed_in = await ident.request(
        "POST", "/sessions", {"tenant_id": tenant, "login": "claire@pharmacie.test", "password": PASSWORD}
    )
    refreshed = await ident.request(
        "POST", "/sessions/refresh", {"refresh_token": signed_in.body["refresh_token"]}
    )
    change_asked = await ident.request(
        "POST", "/sessions", {"tenant_id": tenant, "login": "b2b@client.test", "password": PASSWORD}
    )
    changed = await ident.request(
        "POST",
        "/sessions/password-change",
        {"change_token": change_asked.body["change_token"], "new_password": NEW_PASSWORD},
    )
    for reply, status in ((signed_in, 200), (refreshed, 200), (change_asked, 403), (changed, 200)):
        assert reply.status == status, reply.body
        assert reply.headers.get("Cache-Control") == "no-store", reply.body
