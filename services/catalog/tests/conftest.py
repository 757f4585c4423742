"""Catalog under test, in two tiers, fresh tenants per test.

- Fast (`service`): catalog's API in this process on the test's rolled-back transaction; identity's
  events applied through the consumer's own path.
- Full (`running_service`): one running service per test module (in a schema and topic prefix of
  its own), for what needs commits: races between requests and delivery through the broker. Each
  test works in tenants of its own, so tests cannot see each other's products or events.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from libs.common.events import Envelope
from libs.devstack.stack import LocalStack
from libs.devstack.testing import (
    InProcessService,
    ServiceUnderTest,
    TokenMinter,
    service_in_process,
    service_under_test,
    wait_until,
)
from services.catalog import commands
from services.catalog.app import Settings, build_spec
from tests.contracts.examples import example_event, topic_of

PRODUCTS_TOPIC = "catalog.product.v1"
ORGANISATIONS_TOPIC = topic_of("identity.organisation.created")
# Small limits, so that tests of "too large" send little.
UPLOAD_MAX_BYTES = 64 * 1024
IMPORT_MAX_BYTES = 64 * 1024
IMPORT_MAX_LINES = 40
Caller = dict[str, Any]
"""The claims of a caller's token."""


def organisation_event(
    tenant_id: str, organisation_id: str, name: str, event_type: str = "identity.organisation.created"
) -> Envelope:
    """Identity's example of an organisation event (docs/events) for this organisation and name; its
    time field is one catalog does not read."""
    at: dict[str, Any] = {
        "created_at" if event_type.endswith(".created") else "updated_at": datetime.now(UTC)
    }
    return example_event(
        event_type, tenant_id, subject=organisation_id, organisation_id=organisation_id, name=name, **at
    )


SMALL_LIMITS = {
    "upload_max_bytes": UPLOAD_MAX_BYTES,
    "import_max_bytes": IMPORT_MAX_BYTES,
    "import_max_lines": IMPORT_MAX_LINES,
}


@pytest.fixture
def service_folder() -> Path:
    """Catalog's migrations make the schema of `db` (libs/devstack/testing.py)."""
    return Path(commands.__file__).parent


@pytest.fixture
async def service(db: asyncpg.Connection, tokens: TokenMinter) -> AsyncIterator[InProcessService]:
    """Catalog's API in this process, on the test's rolled-back transaction (the fast tier)."""
    settings = Settings(
        upload_max_bytes=UPLOAD_MAX_BYTES,
        import_max_bytes=IMPORT_MAX_BYTES,
        import_max_lines=IMPORT_MAX_LINES,
    )
    async with service_in_process(db, build_spec(settings), settings, tokens=tokens) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def running_service(stack: LocalStack) -> AsyncIterator[ServiceUnderTest]:
    """Catalog running on a stack, for a whole module (the full tier): for what needs commits."""
    async with service_under_test(stack, build_spec, "catalog", Settings, **SMALL_LIMITS) as running:
        yield running


@dataclass
class Catalog:
    """One test's view of the service: two tenants of its own and their callers."""

    service: ServiceUnderTest | InProcessService
    tenant_a: str
    tenant_b: str

    @classmethod
    def fresh(cls, service: ServiceUnderTest | InProcessService) -> Catalog:
        """Two tenants no other test uses."""
        suffix = uuid.uuid4().hex[:8]
        return cls(service, tenant_a=f"brand-a-{suffix}", tenant_b=f"brand-b-{suffix}")

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

    def member_of(self, organisation_id: str, role: str = "partner", tenant: str | None = None) -> Caller:
        """A user of an organisation (of tenant A unless told)."""
        return {
            "account_id": f"{role}-{organisation_id[:8]}",
            "tenant_id": tenant or self.tenant_a,
            "roles": [role],
            "organisation_id": organisation_id,
        }

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

    async def send(
        self,
        method: str,
        path: str,
        caller: Caller | None,
        data: bytes = b"",
        *,
        content_type: str = "application/octet-stream",
        key: str | None = None,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        """A raw body in, raw bytes out: uploads, imports and downloads."""
        headers = self.service.tokens.headers(**caller) if caller else {}
        headers["Content-Type"] = content_type
        if key is not None:
            headers["Idempotency-Key"] = key
        async with self.service.http.request(
            method, self.service.url + path, data=data, headers=headers
        ) as resp:
            return resp.status, await resp.read(), resp.headers

    async def admin(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        """Tenant A's admin calls; the answer must have the expected status."""
        status, answer, _ = await self.call(method, path, self.admin_a, body)
        assert status == expect, (method, path, status, answer)
        return answer

    async def create(self, code: str, price_minor: int = 1250, **fields: Any) -> dict[str, Any]:
        """Tenant A's admin adds a product; returns it."""
        body = {"code": code, "name": f"Crème {code}", "price_minor": price_minor, "currency": "EUR"}
        body |= fields
        status, product, _ = await self.call("POST", "/products", self.admin_a, body)
        assert status == 201, product
        return dict(product)

    async def brand(self, name: str = "CeraVe") -> str:
        """Tenant A's admin adds a brand; returns its id."""
        return str((await self.admin("POST", "/brands", {"name": name}, 201))["id"])

    async def priced(self, code: str, brand_id: str | None, price_minor: int, **fields: Any) -> str:
        """Tenant A's admin adds a product of a brand at a base price; returns its id."""
        return str((await self.create(code, price_minor, brand_id=brand_id, **fields))["id"])

    async def price_list(
        self, brand_id: str, prices: Mapping[str, int], scope: str = "brand", **fields: Any
    ) -> dict[str, Any]:
        """Tenant A's admin creates a price list: `prices` by product id."""
        body = {
            "name": f"{scope} list",
            "scope": scope,
            "brand_id": brand_id,
            "currency": "EUR",
            "prices": [{"product_id": pid, "price_minor": price} for pid, price in prices.items()],
            **fields,
        }
        return dict(await self.admin("POST", "/price-lists", body, 201))

    async def announce(self, *events: Envelope) -> None:
        """Publish identity's events and wait until catalog has consumed them all."""
        for event in events:
            await self.service.publish(ORGANISATIONS_TOPIC, event)
        ids = [event.id for event in events]

        async def consumed() -> bool:
            count = await self.db.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1)", ids)
            return bool(count == len(ids))

        await wait_until(consumed, f"{len(events)} identity events consumed")

    async def organisation(self, tenant: str | None = None, name: str = "Pharmacie") -> str:
        """A new organisation of a tenant (A unless told), once catalog has heard of it from
        identity; its id."""
        organisation_id = str(uuid.uuid4())
        await self.announce(organisation_event(tenant or self.tenant_a, organisation_id, name))
        return organisation_id

    async def terms(self, organisation_id: str, **terms: Any) -> dict[str, Any]:
        """Tenant A's admin sets an organisation's terms."""
        return dict(await self.admin("PUT", f"/organisations/{organisation_id}/terms", terms))

    async def product_count(self) -> int:
        """Products of this test's tenants."""
        count = await self.db.fetchval(
            "SELECT count(*) FROM products WHERE tenant_id = ANY($1)", [self.tenant_a, self.tenant_b]
        )
        return int(count)

    async def events(self, topic: str = PRODUCTS_TOPIC) -> list[tuple[str, dict[str, Any]]]:
        """(key, envelope) of each event of this test's tenants on a topic in the outbox, oldest first."""
        rows = await self.db.fetch(
            "SELECT key, payload FROM outbox WHERE topic = $1"
            " AND convert_from(payload, 'UTF8')::jsonb ->> 'tenantid' = ANY($2) ORDER BY id",
            topic,
            [self.tenant_a, self.tenant_b],
        )
        return [(row["key"], json.loads(row["payload"])) for row in rows]


@pytest.fixture
def catalog(service: InProcessService) -> Catalog:
    return Catalog.fresh(service)
