"""Loyalty under test, in two tiers; ordering and identity are played by hand.

- Fast (`books`): the consumer handlers called with the rolled-back connection `db`, as the consumer
  calls them (one savepoint per event), no broker and no service started.
- Full (`loyalty`): one running service per test module, fresh tenants per test. Starting a service
  costs seconds while its consumer joins its group, so a module shares one running service (in a
  schema and topic prefix of its own) and each test works in tenants of its own: the service scopes
  everything by tenant, so tests cannot see each other's accounts, rules or events.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from libs.common.events import Envelope
from libs.devstack.payments import FakePaymentProvider
from libs.devstack.stack import LocalStack
from libs.devstack.testing import (
    UNREACHABLE,
    InProcessService,
    ServiceUnderTest,
    TokenMinter,
    service_in_process,
    service_under_test,
    wait_until,
)
from services.loyalty import consumers, store
from services.loyalty.app import Settings, build_spec
from services.loyalty.domain import Account, LedgerEntry
from tests.contracts.examples import example_event, examples, topic_of

ORDERS_TOPIC = topic_of("ordering.order.confirmed")
ACCOUNTS_TOPIC = topic_of("identity.account.deleted")
DEFAULT_POINTS_PER_UNIT = 2  # not the built-in 1: shows the setting reaches the consumer and the API
Caller = dict[str, Any]
"""The claims of a caller's token."""


def order_confirmed(
    tenant_id: str,
    account_id: str,
    total_minor: int,
    *,
    order_id: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
) -> Envelope:
    """Ordering's example of ordering.order.confirmed (docs/events) for this account, its eligible
    amount `total_minor`, plus a field loyalty does not read. Loyalty reads only the order, its
    orderer and its eligible amount."""
    order_id = order_id or uuid.uuid4()
    totals = examples("ordering.order.confirmed")[0]["totals"] | {"eligible_minor": total_minor}
    return example_event(
        "ordering.order.confirmed",
        tenant_id,
        subject=order_id,
        event_id=event_id,
        order_id=order_id,
        account_id=account_id,
        totals=totals,
        confirmed_at=datetime.now(UTC),
        extra={"channel": "a field loyalty does not read"},
    )


def account_deleted(
    tenant_id: str, account_id: str, *, reason: str = "closed", event_id: uuid.UUID | None = None
) -> Envelope:
    """Identity's example of identity.account.deleted (docs/events) for this account, plus a field
    loyalty does not read."""
    return example_event(
        "identity.account.deleted",
        tenant_id,
        subject=account_id,
        event_id=event_id,
        account_id=account_id,
        reason=reason,
        deleted_at=datetime.now(UTC),
        extra={"requested_by": "a field loyalty does not read"},
    )


def fence(tenant_id: str, key: str, source: str = "ordering") -> Envelope:
    """An event type loyalty does not handle: once its inbox row exists, everything sent before it
    on the same key (hence the same partition) has been consumed."""
    return Envelope(
        id=uuid.uuid4(),
        source=source,
        type=f"{source}.fenced-by-tests",
        time=datetime.now(UTC),
        subject=key,
        dataschema=f"urn:comptoir:event:{source}.fenced-by-tests:v1",
        tenantid=tenant_id,
        data={},
    )


@pytest.fixture
async def service(
    db: asyncpg.Connection, tokens: TokenMinter, payment_provider: FakePaymentProvider
) -> AsyncIterator[InProcessService]:
    """Loyalty's API in this process, on the test's rolled-back transaction (the fast tier). Gift
    cards bought online pay through the session's fake provider, whose notices cannot reach it here
    (no gateway at PUBLIC_URL): a test posts them itself."""
    settings = Settings(
        default_points_per_unit=DEFAULT_POINTS_PER_UNIT,
        payment_provider_url=payment_provider.url,
        public_url=UNREACHABLE,
    )
    async with service_in_process(db, build_spec(settings), settings, tokens=tokens) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def running_service(stack: LocalStack) -> AsyncIterator[ServiceUnderTest]:
    """Loyalty running on a stack, for a whole module (the full tier): delivery through the broker."""
    async with service_under_test(
        stack, build_spec, "loyalty", Settings, default_points_per_unit=DEFAULT_POINTS_PER_UNIT
    ) as running:
        yield running


@dataclass
class Loyalty:
    """One test's view of the service: two tenants of its own, their callers, ordering's events."""

    service: ServiceUnderTest | InProcessService
    tenant_a: str
    tenant_b: str

    @classmethod
    def fresh(cls, service: ServiceUnderTest | InProcessService) -> Loyalty:
        """Two tenants no other test uses."""
        suffix = uuid.uuid4().hex[:8]
        return cls(service, tenant_a=f"brand-a-{suffix}", tenant_b=f"brand-b-{suffix}")

    @property
    def db(self) -> asyncpg.Pool:
        return self.service.db

    def member(self, tenant_id: str, name: str = "claire") -> Caller:
        return {"account_id": f"{name}-{tenant_id}", "tenant_id": tenant_id, "roles": ["partner"]}

    @property
    def member_a(self) -> Caller:
        return self.member(self.tenant_a)

    @property
    def member_b(self) -> Caller:
        return self.member(self.tenant_b)

    @property
    def admin_a(self) -> Caller:
        return {"account_id": "admin-a", "tenant_id": self.tenant_a, "roles": ["admin"]}

    @property
    def admin_b(self) -> Caller:
        return {"account_id": "admin-b", "tenant_id": self.tenant_b, "roles": ["admin"]}

    def order(self, caller: Caller, total_minor: int, **kwargs: Any) -> Envelope:
        """An order of `caller`, in the caller's tenant (see `order_confirmed`)."""
        return order_confirmed(caller["tenant_id"], caller["account_id"], total_minor, **kwargs)

    def deleted(self, caller: Caller, **kwargs: Any) -> Envelope:
        """The deletion of `caller`'s identity account, in the caller's tenant (see `account_deleted`)."""
        return account_deleted(caller["tenant_id"], caller["account_id"], **kwargs)

    async def send(self, *events: Envelope, key: str | None = None) -> None:
        """Publish events on the topic of their source (ordering's or identity's), keyed by their
        subject unless `key` is given."""
        for event in events:
            topic = ACCOUNTS_TOPIC if event.source == "identity" else ORDERS_TOPIC
            await self.service.publish(topic, event, key=key)

    async def publish(self, *events: Envelope, key: str | None = None) -> None:
        """Publish events and wait until loyalty has consumed every one of them, redeliveries included."""
        await self.send(*events, key=key)
        fences = [fence(event.tenantid, key or event.subject, event.source) for event in events]
        for one in fences:
            await self.send(one)
        ids = [one.id for one in fences]

        async def consumed() -> bool:
            count = await self.db.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1)", ids)
            return bool(count == len(ids))

        await wait_until(consumed, f"{len(events)} order events consumed")

    async def call(self, method: str, path: str, caller: Caller | None, body: Any = None) -> tuple[int, Any]:
        headers = self.service.tokens.headers(**caller) if caller else {}
        async with self.service.http.request(
            method, self.service.url + path, json=body, headers=headers
        ) as resp:
            return resp.status, await resp.json(content_type=None)

    async def balance(self, caller: Caller) -> int:
        status, body = await self.call("GET", "/accounts/me", caller)
        assert status == 200, body
        return int(body["balance"])

    async def ledger(self, caller: Caller) -> list[dict[str, Any]]:
        status, body = await self.call("GET", "/accounts/me/ledger", caller)
        assert status == 200, body
        return list(body)

    async def points_events(self) -> list[tuple[str, dict[str, Any]]]:
        """(key, envelope) of each loyalty.points.* event of this test's tenants (outbox), oldest first."""
        rows = await self.db.fetch(
            "SELECT key, payload FROM outbox WHERE topic = 'loyalty.points.v1'"
            " AND convert_from(payload, 'UTF8')::jsonb ->> 'tenantid' = ANY($1) ORDER BY id",
            [self.tenant_a, self.tenant_b],
        )
        return [(row["key"], json.loads(row["payload"])) for row in rows]

    async def awarded(self) -> list[tuple[str, dict[str, Any]]]:
        """(key, envelope) of each loyalty.points.awarded of this test's tenants (outbox), oldest first."""
        return [(k, e) for k, e in await self.points_events() if e["type"] == "loyalty.points.awarded"]

    async def forfeited(self) -> list[tuple[str, dict[str, Any]]]:
        """(key, envelope) of each loyalty.points.forfeited of this test's tenants (outbox), oldest first."""
        return [(k, e) for k, e in await self.points_events() if e["type"] == "loyalty.points.forfeited"]


@pytest.fixture
def loyalty(service: InProcessService) -> Loyalty:
    return Loyalty.fresh(service)


@pytest.fixture
def service_folder() -> Path:
    """Loyalty's migrations make the schema of `db` (libs/devstack/testing.py)."""
    return Path(consumers.__file__).parent


@dataclass
class Books:
    """One fast test's view of loyalty: its consumer handlers (under the module's default rule) on
    the rolled-back connection, two tenants, and what a member's account, ledger and events hold."""

    db: asyncpg.Connection
    tenant_a: str
    tenant_b: str

    def member(self, tenant_id: str, name: str = "claire") -> Caller:
        return {"account_id": f"{name}-{tenant_id}", "tenant_id": tenant_id, "roles": ["partner"]}

    @property
    def member_a(self) -> Caller:
        return self.member(self.tenant_a)

    @property
    def member_b(self) -> Caller:
        return self.member(self.tenant_b)

    def order(self, caller: Caller, total_minor: int, **kwargs: Any) -> Envelope:
        return order_confirmed(caller["tenant_id"], caller["account_id"], total_minor, **kwargs)

    def deleted(self, caller: Caller, **kwargs: Any) -> Envelope:
        return account_deleted(caller["tenant_id"], caller["account_id"], **kwargs)

    async def apply(self, *events: Envelope) -> None:
        """Run each event's handler as the consumer does: in a transaction of its own (a savepoint
        here), which a failing handler leaves without a trace."""
        table = consumers.handlers(DEFAULT_POINTS_PER_UNIT)
        for event in events:
            topic = topic_of(event.type)
            async with self.db.transaction():
                await table[topic][event.type](self.db, event)

    async def account(self, caller: Caller) -> Account | None:
        return await store.find_account(self.db, caller["tenant_id"], caller["account_id"])

    async def balance(self, caller: Caller) -> int:
        account = await self.account(caller)
        return account.balance if account else 0

    async def ledger(self, caller: Caller) -> list[LedgerEntry]:
        """The member's entries, newest first."""
        return await store.ledger(self.db, caller["tenant_id"], caller["account_id"], limit=1000)

    async def points_events(self) -> list[tuple[str, dict[str, Any]]]:
        """(key, envelope) of each loyalty.points.* event appended to the outbox, oldest first."""
        rows = await self.db.fetch(
            "SELECT key, payload FROM outbox WHERE topic = 'loyalty.points.v1' ORDER BY id"
        )
        return [(row["key"], json.loads(row["payload"])) for row in rows]

    async def awarded(self) -> list[tuple[str, dict[str, Any]]]:
        return [(k, e) for k, e in await self.points_events() if e["type"] == "loyalty.points.awarded"]

    async def forfeited(self) -> list[tuple[str, dict[str, Any]]]:
        return [(k, e) for k, e in await self.points_events() if e["type"] == "loyalty.points.forfeited"]


@pytest.fixture
def books(db: asyncpg.Connection) -> Books:
    return Books(db, tenant_a="brand-a", tenant_b="brand-b")
