"""Identity under test: the API role on a schema of its own; tokens are real ones, got by logging in.

The API role runs no relay, so what identity publishes stays in its outbox, where tests read it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import pytest

from libs.common.testing import Isolated, service_running
from services.identity.app import SPEC

PLATFORM_KEY = "dev-platform-key"
PASSWORD = "Correct-Horse-9"
ACTIVATION_PREFIX = "/api/identity/activations/"


@dataclass
class Identity:
    """A running identity service, its database, and the calls tests make to it."""

    http: aiohttp.ClientSession
    url: str
    db: asyncpg.Pool

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, self.url + path, json=body, headers=sent) as resp:
            return resp.status, await resp.json(content_type=None)

    async def create_tenant(self, tenant_id: str | None = None) -> tuple[str, str]:
        """A tenant with its admin: (tenant id, admin token)."""
        tenant_id = tenant_id or f"brand-{uuid.uuid4().hex[:8]}"
        admin = f"admin@{tenant_id}.test"
        status, body = await self.call(
            "POST",
            "/tenants",
            {
                "tenant_id": tenant_id,
                "name": "Brand",
                "admin": {"email": admin, "password": PASSWORD, "display_name": "Admin", "locale": "en"},
            },
            headers={"X-Platform-Key": PLATFORM_KEY},
        )
        assert status == 201, body
        return tenant_id, await self.login(tenant_id, admin)

    async def register(self, tenant_id: str, email: str, **fields: Any) -> tuple[int, Any]:
        body = {"tenant_id": tenant_id, "email": email, "password": PASSWORD, "display_name": "Claire"}
        headers = {"Idempotency-Key": fields.pop("idempotency_key")} if "idempotency_key" in fields else None
        return await self.call("POST", "/accounts", body | fields, headers=headers)

    async def registered(self, tenant_id: str, email: str, **fields: Any) -> str:
        """Register, expecting success; returns the account id."""
        status, body = await self.register(tenant_id, email, **fields)
        assert status == 201, body
        return str(body["account_id"])

    async def login(self, tenant_id: str, email: str, password: str = PASSWORD) -> str:
        status, body = await self.call(
            "POST", "/sessions", {"tenant_id": tenant_id, "email": email, "password": password}
        )
        assert status == 200, body
        return str(body["access_token"])

    async def published(self, account_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(topic, key, envelope) of what identity published about an account, oldest first."""
        rows = await self.db.fetch(
            "SELECT topic, key, payload FROM outbox"
            " WHERE convert_from(payload, 'UTF8')::jsonb ->> 'subject' = $1 ORDER BY id",
            account_id,
        )
        return [(row["topic"], row["key"], json.loads(row["payload"])) for row in rows]

    async def activation_link(self, account_id: str) -> str:
        """The path (on identity) of the link notify is asked to email."""
        requests = [e for t, _, e in await self.published(account_id) if t == "notify.requests.v1"]
        assert len(requests) == 1, requests
        url = str(requests[0]["data"]["activation_url"])
        return "/activations/" + url.split(ACTIVATION_PREFIX, 1)[1]

    async def activated(self, tenant_id: str, email: str) -> tuple[str, str]:
        """A partner registered and activated: (account id, token)."""
        account_id = await self.registered(tenant_id, email)
        status, body = await self.call("GET", await self.activation_link(account_id))
        assert status == 200, body
        return account_id, await self.login(tenant_id, email)


@pytest.fixture
async def identity(isolated: Isolated, pool: asyncpg.Pool) -> AsyncIterator[Identity]:
    # No `tokens`: identity must verify tokens with its own keys.
    settings = isolated.service_settings("identity", role="api")
    async with service_running(SPEC, settings) as url, aiohttp.ClientSession() as http:
        yield Identity(http, url, pool)
