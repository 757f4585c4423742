"""Inactivity, through the broker: ordering's events reach identity's running consumer (the full
tier; the sweep and the handler are tested on the fast tier in test_inactivity.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from libs.devstack.stack import LocalStack
from libs.devstack.testing import ServiceUnderTest, service_under_test, wait_until
from services.identity.app import Settings, build_spec
from services.identity.tests.credentials_support import PLATFORM_KEY, RAISED_LIMITS
from services.identity.tests.test_inactivity import order_confirmed
from tests.contracts.examples import topic_of


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def running(stack: LocalStack) -> AsyncIterator[ServiceUnderTest]:
    async with service_under_test(
        stack, build_spec, "identity", Settings, platform_key=PLATFORM_KEY, **RAISED_LIMITS
    ) as service:
        yield service


@pytest.mark.asyncio(loop_scope="module")
async def test_a_confirmed_order_on_the_topic_keeps_its_account_from_the_sweep(
    running: ServiceUnderTest,
) -> None:
    tenant = f"brand-{uuid.uuid4().hex[:8]}"
    admin = {"email": f"admin@{tenant}.test", "password": "Correct-Horse-9", "display_name": "Admin"}
    body: dict[str, Any] = {"tenant_id": tenant, "name": "Brand", "admin": admin}
    async with running.http.post(
        running.url + "/tenants", json=body, headers={"X-Platform-Key": PLATFORM_KEY}
    ) as resp:
        assert resp.status == 201
    register = {"tenant_id": tenant, "email": "anna@example.test", "display_name": "Anna"}
    async with running.http.post(running.url + "/accounts", json=register) as resp:
        account_id = (await resp.json())["account_id"]
    confirmed_at = datetime.now(UTC).replace(microsecond=0)
    await running.publish(
        topic_of("ordering.order.confirmed"), order_confirmed(tenant, account_id, confirmed_at)
    )

    async def recorded() -> bool:
        value = await running.db.fetchval(
            "SELECT last_order_at FROM accounts WHERE account_id = $1", uuid.UUID(account_id)
        )
        return bool(value == confirmed_at)

    await wait_until(recorded, "identity to record the order", timeout=20)
