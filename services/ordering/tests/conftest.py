"""Ordering under test on the fast tier: its API in this process over the test's rolled-back
transaction, catalog's events applied by hand through the consumer's own path. The service reads a
clock the tests may stop and move (price list validity); each test starts on the real time.
Ordering's consumers fed through the broker are tested end to end (tests/e2e).
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

from libs.common.events import Envelope
from libs.devstack.payments import FakePaymentProvider
from libs.devstack.testing import (
    UNREACHABLE,
    InProcessService,
    TokenMinter,
    service_in_process,
    wait_until,
)
from services.ordering import consumers
from services.ordering.app import Settings, build_spec
from tests.contracts.examples import example_event, topic_of

"""The gateway's address in the fast tier: nothing answers there (the discard port)."""

Caller = dict[str, Any]
"""The claims of a caller's token."""


def product_event(
    tenant_id: str,
    product_id: uuid.UUID,
    code: str,
    price_minor: int,
    *,
    version: int = 1,
    active: bool = True,
    currency: str = "EUR",
    at: datetime | None = None,
    brand_id: uuid.UUID | None = None,
) -> Envelope:
    """Catalog's example of a product event (docs/events): created at version 1, updated after; plus
    a field ordering does not read. Without `brand_id`, an event from before brands (no brand, VAT,
    status)."""
    event_type = "catalog.product.created" if version == 1 else "catalog.product.updated"
    event = example_event(
        event_type,
        tenant_id,
        subject=product_id,
        time=at,
        product_id=product_id,
        code=code,
        name=f"Product {code}",
        price_minor=price_minor,
        currency=currency,
        active=active,
        version=version,
        brand_id=brand_id,
        status="active" if active else "retired",
        extra={"description": "a catalog field ordering does not read"},
    )
    if brand_id is not None:
        return event
    before_brands = {k: v for k, v in event.data.items() if k not in ("brand_id", "vat_rate_bp", "status")}
    return event.model_copy(update={"data": before_brands})


def price_list_event(
    tenant_id: str,
    price_list_id: uuid.UUID,
    prices: Mapping[uuid.UUID, int],
    *,
    brand_id: uuid.UUID,
    group_id: str | None = None,
    organisation_id: str | None = None,
    currency: str = "EUR",
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    active: bool = True,
    version: int = 1,
) -> Envelope:
    """catalog.price_list.changed: a brand list, or a group's or an organisation's when given one."""
    scope = "organisation" if organisation_id else "group" if group_id else "brand"
    return example_event(
        "catalog.price_list.changed",
        tenant_id,
        subject=price_list_id,
        price_list_id=price_list_id,
        name=f"{scope} list",
        scope=scope,
        brand_id=brand_id,
        group_id=group_id,
        organisation_id=organisation_id,
        currency=currency,
        valid_from=valid_from,
        valid_until=valid_until,
        prices=[{"product_id": str(p), "price_minor": price} for p, price in prices.items()],
        active=active,
        version=version,
    )


def terms_event(
    tenant_id: str,
    organisation_id: str,
    *,
    group_id: str | None = None,
    assortment: list[uuid.UUID] | None = None,
    entitlements: list[str] | None = None,
    version: int = 1,
) -> Envelope:
    """catalog.organisation.terms_changed."""
    return example_event(
        "catalog.organisation.terms_changed",
        tenant_id,
        subject=organisation_id,
        organisation_id=organisation_id,
        group_id=group_id,
        assortment=assortment,
        entitlements=entitlements or [],
        version=version,
    )


def at(seconds: int) -> datetime:
    """A fixed instant, to order catalog events in time."""
    return datetime(2025, 1, 1, tzinfo=UTC).replace(second=seconds)


class MovableClock:
    """The service's clock: the real time until a test stops it at an instant."""

    def __init__(self) -> None:
        self.stopped_at: datetime | None = None

    def __call__(self) -> datetime:
        return self.stopped_at or datetime.now(UTC)


@pytest.fixture(scope="module")
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def service_folder() -> Path:
    """Ordering's migrations make the schema of `db` (libs/devstack/testing.py)."""
    return Path(consumers.__file__).parent


@pytest.fixture
async def service(
    db: asyncpg.Connection, tokens: TokenMinter, clock: MovableClock, payment_provider: FakePaymentProvider
) -> AsyncIterator[InProcessService]:
    """Ordering's API in this process, on the test's rolled-back transaction (the fast tier). It pays
    through the session's fake provider, whose notices cannot reach it here (no gateway at
    PUBLIC_URL): a test posts them itself (`Ordering.deliver_notices`)."""
    settings = Settings(payment_provider_url=payment_provider.url, public_url=UNREACHABLE)
    async with service_in_process(db, build_spec(settings, clock), settings, tokens=tokens) as running:
        yield running


@dataclass
class Ordering:
    """One test's view of the service: two tenants of its own, their callers, catalog's events."""

    service: InProcessService
    clock: MovableClock
    tenant_a: str
    tenant_b: str

    @property
    def db(self) -> asyncpg.Pool:
        return self.service.db

    @property
    def partner_a(self) -> Caller:
        return {
            "account_id": "partner-a1",
            "tenant_id": self.tenant_a,
            "roles": ["partner"],
            "organisation_id": "org-1",
        }

    @property
    def partner_a2(self) -> Caller:
        return {
            "account_id": "partner-a2",
            "tenant_id": self.tenant_a,
            "roles": ["partner"],
            "organisation_id": "org-2",
        }

    @property
    def validator_a(self) -> Caller:
        """Validates the orders of organisation org-1 (partner_a's)."""
        return {
            "account_id": "validator-a1",
            "tenant_id": self.tenant_a,
            "roles": ["validator"],
            "organisation_id": "org-1",
        }

    @property
    def admin_a(self) -> Caller:
        return {"account_id": "admin-a", "tenant_id": self.tenant_a, "roles": ["admin"]}

    @property
    def partner_b(self) -> Caller:
        return {"account_id": "partner-b1", "tenant_id": self.tenant_b, "roles": ["partner"]}

    @property
    def admin_b(self) -> Caller:
        return {"account_id": "admin-b", "tenant_id": self.tenant_b, "roles": ["admin"]}

    def product(self, product_id: uuid.UUID, code: str, price_minor: int, **kwargs: Any) -> Envelope:
        """A catalog event of tenant A (see `product_event`)."""
        return product_event(self.tenant_a, product_id, code, price_minor, **kwargs)

    async def publish(self, *events: Envelope) -> None:
        """Publish catalog events and wait until ordering has consumed them all (applied or ignored)."""
        for event in events:
            await self.service.publish(topic_of(event.type), event)
        ids = [event.id for event in events]

        async def consumed() -> bool:
            return bool(
                await self.db.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1)", ids) == len(ids)
            )

        await wait_until(consumed, f"{len(events)} catalog events consumed")

    async def call(
        self, method: str, path: str, caller: Caller, body: Any = None, key: str | None = None
    ) -> tuple[int, Any, Mapping[str, str]]:
        headers = self.service.tokens.headers(**caller)
        if key is not None:
            headers["Idempotency-Key"] = key
        async with self.service.http.request(
            method, self.service.url + path, json=body, headers=headers
        ) as resp:
            return resp.status, await resp.json(content_type=None), resp.headers

    async def submit(
        self, caller: Caller, lines: list[dict[str, Any]], key: str | None = None, **choices: Any
    ) -> tuple[int, Any]:
        status, body, _ = await self.call("POST", "/orders", caller, {"lines": lines, **choices}, key)
        return status, body

    async def published(self, *types: str) -> list[tuple[str, dict[str, Any]]]:
        """(key, envelope) of each order event of these types (by default: submitted) of this test's
        tenants in the outbox, oldest first."""
        rows = await self.db.fetch(
            "SELECT key, payload FROM outbox WHERE topic = 'ordering.order.v1'"
            " AND convert_from(payload, 'UTF8')::jsonb ->> 'tenantid' = ANY($1)"
            " AND convert_from(payload, 'UTF8')::jsonb ->> 'type' = ANY($2) ORDER BY id",
            [self.tenant_a, self.tenant_b],
            list(types or ("ordering.order.submitted",)),
        )
        return [(row["key"], json.loads(row["payload"])) for row in rows]

    async def counts(self) -> tuple[int, int]:
        """(orders, order events in the outbox) of this test's tenants."""
        orders = await self.db.fetchval(
            "SELECT count(*) FROM orders WHERE tenant_id = ANY($1)", [self.tenant_a, self.tenant_b]
        )
        return int(orders), len(await self.published())


@pytest.fixture
def ordering(service: InProcessService, clock: MovableClock) -> Ordering:
    suffix = uuid.uuid4().hex[:8]
    clock.stopped_at = None
    return Ordering(service, clock, tenant_a=f"brand-a-{suffix}", tenant_b=f"brand-b-{suffix}")
