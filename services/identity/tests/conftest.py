"""Identity under test: the API role on a schema of its own; tokens are real ones, got by logging in.

The API role runs no relay, so what identity publishes stays in its outbox, where tests read it.
`identity` gives each test a service and schema of its own; `shared_identity` one per module, for
tests that stay apart by working in tenants of their own (starting a service costs half a second).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import pytest_asyncio

from libs.common.db import create_pool, drop_service, provision_service
from libs.devstack.stack import LocalStack
from libs.devstack.testing import Isolated, rows_holding, service_in_process, service_running
from services.identity import commands
from services.identity.app import Settings, build_spec
from services.identity.tests.credentials_support import PLATFORM_KEY, RAISED_LIMITS, identity_settings

PASSWORD = "Correct-Horse-9"
ACTIVATION_PREFIX = "/activations/"
"""What the activation link's path holds before its token (the portal's page
`/{tenant}/activations/{token}`)."""
# Every registration field, valid.
PERSON: dict[str, Any] = {
    "first_name": "Anna",
    "last_name": "Ivanova",
    "birth_date": "1990-04-12",
    "address": {"line1": "12 rue des Lilas", "postal_code": "75011", "city": "Paris", "country": "fr"},
    "phone": "+33 6 12 34 56 78",
    "passport": "4510 123456",
}


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
        requests = [e for t, _, e in await self.published(account_id) if t == "internal.notify.requests.v1"]
        assert len(requests) == 1, requests
        url = str(requests[0]["data"]["activation_url"])
        return "/activations/" + url.split(ACTIVATION_PREFIX, 1)[1]

    async def requests(self, account_id: str, event_type: str | None = None) -> list[dict[str, Any]]:
        """The data of what identity asked notify to send about an account, oldest first."""
        return [
            e["data"]
            for t, _, e in await self.published(account_id)
            if t == "internal.notify.requests.v1" and event_type in (None, e["type"])
        ]

    async def latest_token(self, account_id: str) -> str:
        """The token of the latest activation link sent to an account."""
        [*_, latest] = await self.requests(account_id, "identity.activation.requested")
        return str(latest["activation_url"]).rsplit("/", 1)[1]

    async def latest_code(self, account_id: str) -> str:
        """The latest activation code sent to an account."""
        [*_, latest] = await self.requests(account_id, "identity.activation.code_requested")
        return str(latest["code"])

    async def event_types(self, account_id: str) -> list[str]:
        return [e["type"] for _, _, e in await self.published(account_id)]

    async def organisation(self, admin: str, customer_code: str = "C-1001", name: str = "Pharmacie") -> str:
        status, body = await self.call(
            "POST", "/organisations", {"name": name, "customer_code": customer_code}, token=admin
        )
        assert status == 201, body
        return str(body["organisation_id"])

    async def invite(self, admin: str, email: str, roles: list[str], **fields: Any) -> dict[str, Any]:
        """An account an admin creates; returns the creation's answer."""
        body = {"email": email, "display_name": email.split("@")[0].title(), "roles": roles} | fields
        status, created = await self.call("POST", "/accounts/invitations", body, token=admin)
        assert status == 201, created
        return dict(created)

    async def member(
        self, tenant_id: str, admin: str, email: str, roles: list[str], **fields: Any
    ) -> tuple[str, str]:
        """An active account with these roles, created by an admin with a password: (id, token)."""
        created = await self.invite(admin, email, roles, initial_password=PASSWORD, **fields)
        return str(created["account_id"]), await self.login(tenant_id, email)

    async def settings(self, admin: str, **changes: Any) -> dict[str, Any]:
        """Change some of the tenant's settings (PUT with the others as they are)."""
        status, current = await self.call("GET", "/tenant/settings", token=admin)
        assert status == 200, current
        status, stored = await self.call("PUT", "/tenant/settings", current | changes, token=admin)
        assert status == 200, stored
        return dict(stored)

    async def rows_holding(self, values: list[str]) -> list[tuple[str, str]]:
        """(table, value) for every row of identity's schema that holds one of these values."""
        return [(table, value) for _, table, value in await rows_holding(self.db, values)]

    async def activated(self, tenant_id: str, email: str) -> tuple[str, str]:
        """A partner registered and activated: (account id, token)."""
        account_id = await self.registered(tenant_id, email)
        status, body = await self.call("GET", await self.activation_link(account_id))
        assert status == 200, body
        return account_id, await self.login(tenant_id, email)


@pytest.fixture
def service_folder() -> Path:
    """Identity's migrations make the schema of `db` (libs/devstack/testing.py)."""
    return Path(commands.__file__).parent


@pytest.fixture
async def identity(db: asyncpg.Connection) -> AsyncIterator[Identity]:
    """Identity's API in this process, on the test's rolled-back transaction (the fast tier). No
    `tokens`: identity verifies tokens with its own keys."""
    settings = Settings(platform_key=PLATFORM_KEY, **RAISED_LIMITS)
    async with service_in_process(db, build_spec(settings), settings) as running:
        yield Identity(running.http, running.url, running.db)


@pytest.fixture
async def running_identity(isolated: Isolated, pool: asyncpg.Pool) -> AsyncIterator[Identity]:
    """Identity as the api role runs it, on a stack (the full tier): for what needs commits."""
    settings = identity_settings(isolated)
    async with service_running(build_spec(settings), settings) as url, aiohttp.ClientSession() as http:
        yield Identity(http, url, pool)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared_identity(stack: LocalStack) -> AsyncIterator[Identity]:
    """One identity service for a whole module (its tests use `pytest.mark.asyncio(loop_scope="module")`)."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    await provision_service(stack.database_url, role=name, schema=name)
    isolated = Isolated.on(stack, name)
    try:
        db = await create_pool(isolated.database_url, name, max_size=5)
        settings = identity_settings(isolated)
        async with service_running(build_spec(settings), settings) as url, aiohttp.ClientSession() as http:
            yield Identity(http, url, db)
        await db.close()
    finally:
        await drop_service(stack.database_url, role=name, schema=name)
