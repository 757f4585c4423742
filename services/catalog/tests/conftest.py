"""Catalog under test: one running service per test module, fresh tenants per test.

Starting a service costs a few seconds, so a module shares one running service (in a schema and
topic prefix of its own) and each test works in tenants of its own: the service scopes everything
by tenant, so tests cannot see each other's products or events.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from libs.common.stack import LocalStack
from libs.common.testing import ServiceUnderTest, service_under_test
from services.catalog.app import SPEC

PRODUCTS_TOPIC = "catalog.product.v1"
Caller = dict[str, Any]
"""The claims of a caller's token."""


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(stack: LocalStack) -> AsyncIterator[ServiceUnderTest]:
    async with service_under_test(stack, SPEC, "catalog") as running:
        yield running


@dataclass
class Catalog:
    """One test's view of the service: two tenants of its own and their callers."""

    service: ServiceUnderTest
    tenant_a: str
    tenant_b: str

    @property
    def db(self) -> asyncpg.Pool:
        return self.service.db

    @property
    def admin_a(self) -> Caller:
        return {"account_id": "admin-a", "tenant_id": self.tenant_a, "roles": ["admin"]}

    @property
    def partner_a(self) -> Caller:
        return {"account_id": "partner-a", "tenant_id": self.tenant_a, "roles": ["partner"]}

    @property
    def admin_b(self) -> Caller:
        return {"account_id": "admin-b", "tenant_id": self.tenant_b, "roles": ["admin"]}

    async def call(
        self,
        method: str,
        path: str,
        caller: Caller | None,
        body: Any = None,
        *,
        key: str | None = None,
    ) -> tuple[int, Any, Mapping[str, str]]:
        headers = self.service.tokens.headers(**caller) if caller else {}
        if key is not None:
            headers["Idempotency-Key"] = key
        async with self.service.http.request(
            method, self.service.url + path, json=body, headers=headers
        ) as resp:
            return resp.status, await resp.json(content_type=None), resp.headers

    async def create(self, code: str, price_minor: int = 1250, **fields: Any) -> dict[str, Any]:
        """Tenant A's admin adds a product; returns it."""
        body = {"code": code, "name": f"Crème {code}", "price_minor": price_minor, "currency": "EUR"}
        body |= fields
        status, product, _ = await self.call("POST", "/products", self.admin_a, body)
        assert status == 201, product
        return dict(product)

    async def product_count(self) -> int:
        """Products of this test's tenants."""
        count = await self.db.fetchval(
            "SELECT count(*) FROM products WHERE tenant_id = ANY($1)", [self.tenant_a, self.tenant_b]
        )
        return int(count)

    async def events(self) -> list[tuple[str, dict[str, Any]]]:
        """(key, envelope) of each product event of this test's tenants in the outbox, oldest first."""
        rows = await self.db.fetch(
            "SELECT key, payload FROM outbox WHERE topic = $1"
            " AND convert_from(payload, 'UTF8')::jsonb ->> 'tenantid' = ANY($2) ORDER BY id",
            PRODUCTS_TOPIC,
            [self.tenant_a, self.tenant_b],
        )
        return [(row["key"], json.loads(row["payload"])) for row in rows]


@pytest.fixture
def catalog(service: ServiceUnderTest) -> Catalog:
    suffix = uuid.uuid4().hex[:8]
    return Catalog(service, tenant_a=f"brand-a-{suffix}", tenant_b=f"brand-b-{suffix}")
