"""Deletion after inactivity: identity learns each account's last order from ordering's
events, and a worker deletes accounts past their tenant's delays, once even with two replicas."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from libs.common.events import Envelope
from libs.devstack.testing import wait_until
from services.identity import commands, workers
from services.identity.app import Settings
from services.identity.consumers import record_last_order
from services.identity.policy import Policy
from services.identity.tests.conftest import Identity
from tests.contracts.examples import example_event

pytestmark = pytest.mark.fast


def order_confirmed(tenant_id: str, account_id: str, confirmed_at: datetime) -> Envelope:
    """Ordering's example of ordering.order.confirmed (docs/events), by this account at that time."""
    order_id = uuid.uuid4()
    return example_event(
        "ordering.order.confirmed",
        tenant_id,
        subject=order_id,
        time=confirmed_at,
        order_id=order_id,
        account_id=account_id,
        confirmed_at=confirmed_at,
    )


def policy(days_later: float = 0, batch: int = 100) -> Policy:
    """The service's policy with a clock `days_later` days from now."""
    moved = datetime.now(UTC) + timedelta(days=days_later)
    return dataclasses.replace(Settings().policy(), clock=lambda: moved, inactivity_batch=batch)


async def last_order_at(identity: Identity, account_id: str) -> datetime | None:
    value = await identity.db.fetchval(
        "SELECT last_order_at FROM accounts WHERE account_id = $1", uuid.UUID(account_id)
    )
    return value if isinstance(value, datetime) else None


async def remaining(identity: Identity, tenant_id: str) -> set[str]:
    rows = await identity.db.fetch("SELECT email FROM accounts WHERE tenant_id = $1", tenant_id)
    return {row["email"] for row in rows}


async def ordered(identity: Identity, tenant_id: str, account_id: str, at: datetime) -> None:
    async with identity.db.acquire() as conn, conn.transaction():
        await record_last_order(conn, order_confirmed(tenant_id, account_id, at))


async def test_the_last_order_is_the_latest_seen_and_unknown_accounts_change_nothing(
    identity: Identity,
) -> None:
    tenant, _ = await identity.create_tenant()
    account_id = await identity.registered(tenant, "anna@example.test")
    now = datetime.now(UTC).replace(microsecond=0)
    await ordered(identity, tenant, account_id, now)
    await ordered(identity, tenant, account_id, now - timedelta(days=3))  # late: older
    assert await last_order_at(identity, account_id) == now
    await ordered(identity, tenant, account_id, now + timedelta(hours=1))
    assert await last_order_at(identity, account_id) == now + timedelta(hours=1)
    # Another tenant's event, an account identity never had, an id that is no account id: nothing.
    await ordered(identity, "other-brand", account_id, now + timedelta(days=1))
    await ordered(identity, tenant, str(uuid.uuid4()), now)
    await ordered(identity, tenant, "guest-42", now)
    assert await last_order_at(identity, account_id) == now + timedelta(hours=1)


async def test_accounts_past_the_tenants_delays_are_deleted_as_inactive(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    lenient, _ = await identity.create_tenant()  # no delays: nobody is ever deleted
    await identity.settings(admin, delete_without_order_days=90, delete_after_last_order_days=365)
    never = await identity.registered(tenant, "never@example.test")
    buyer = await identity.registered(tenant, "buyer@example.test")
    await identity.registered(lenient, "never@example.test")
    await ordered(identity, tenant, buyer, datetime.now(UTC))

    assert await commands.sweep_inactive_accounts(identity.db, policy(days_later=89)) == 0
    assert await commands.sweep_inactive_accounts(identity.db, policy(days_later=91)) == 1
    assert await remaining(identity, tenant) == {f"admin@{tenant}.test", "buyer@example.test"}
    [deleted] = [e for _, _, e in await identity.published(never) if e["type"] == "identity.account.deleted"]
    assert deleted["data"]["reason"] == "inactive"
    assert await identity.rows_holding(["never@example.test"]) == [
        ("accounts", "never@example.test")
    ]  # lenient's

    assert await commands.sweep_inactive_accounts(identity.db, policy(days_later=364)) == 0
    assert await commands.sweep_inactive_accounts(identity.db, policy(days_later=366)) == 1
    # Admins are exempt: a tenant must keep those who run it, ordering or not.
    assert await remaining(identity, tenant) == {f"admin@{tenant}.test"}
    assert await remaining(identity, lenient) == {f"admin@{lenient}.test", "never@example.test"}


async def test_the_worker_sweeps_at_start_and_then_every_interval(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    await identity.settings(admin, delete_without_order_days=90)
    await identity.registered(tenant, "old@example.test", password=None)
    stopping = asyncio.Event()
    sweep = workers.sweep_inactive_accounts(
        identity.db, stopping, policy=Settings().policy(), interval_s=0.05
    )
    worker = asyncio.create_task(sweep)
    try:
        await identity.registered(tenant, "later@example.test", password=None)
        await identity.db.execute(
            "UPDATE accounts SET created_at = now() - interval '91 days' WHERE roles = '{partner}'"
        )

        async def swept() -> bool:
            return await remaining(identity, tenant) == {f"admin@{tenant}.test"}

        await wait_until(swept, "the worker to delete the inactive accounts", timeout=10)
    finally:
        stopping.set()
        await asyncio.wait_for(worker, 5)
