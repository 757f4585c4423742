"""End to end through the gateway: register → activate → order → points → emails, on the real stack."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest

from libs.common.devrun import Platform
from tests.e2e.conftest import Api, eventually, mail_text

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]


async def balance(api: Api, token: str) -> int:
    _, body = await api.call("GET", "/api/loyalty/accounts/me", token=token, expect=200)
    return int(body["balance"])


async def test_partner_registers_activates_orders_and_gets_points_and_emails(api: Api, unique: str) -> None:
    tenant = f"brand-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, f"SKU{unique}", price_minor=1250)
    address = f"claire.{unique}@pharmacie.test"

    _, partner = await api.register_and_activate(tenant, address)
    order = await api.order(partner, [{"code": f"sku{unique}", "quantity": 2}])

    assert order["total_minor"] == 2500  # priced by the server, from catalog's events
    assert await eventually(lambda: _balance_is(api, partner, 25), "the points of the order") == 25
    order_mails = await eventually(
        lambda: _mails_mentioning(api, address, order["order_id"][:8]), "the order copy"
    )
    assert "25,00" in mail_text(order_mails[0])
    points_mails = await eventually(lambda: _points_mails(api, address), "the points email")
    assert "25" in str(points_mails[0]["Subject"]) + mail_text(points_mails[0])


async def _balance_is(api: Api, token: str, expected: int) -> int | None:
    current = await balance(api, token)
    return current if current == expected else None


async def _points_mails(api: Api, address: str) -> list[Any] | None:
    return [m for m in api.mails_to(address) if "point" in str(m["Subject"]).lower()] or None


async def _mails_mentioning(api: Api, address: str, needle: str) -> list[Any] | None:
    found = [m for m in api.mails_to(address) if needle in mail_text(m) or needle in str(m["Subject"])]
    return found or None


async def test_same_order_twice_with_one_idempotency_key_is_one_order_one_award_one_email(
    api: Api, unique: str
) -> None:
    tenant = f"brand-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, f"IDEM{unique}", price_minor=1000)
    address = f"idem.{unique}@pharmacie.test"
    _, partner = await api.register_and_activate(tenant, address)

    first = await api.order(partner, [{"code": f"IDEM{unique}", "quantity": 1}], key=f"order-{unique}")
    _, again = await api.call(
        "POST",
        "/api/ordering/orders",
        token=partner,
        expect=201,
        headers={"Idempotency-Key": f"order-{unique}"},
        json={"lines": [{"code": f"IDEM{unique}", "quantity": 1}]},
    )
    assert again["order_id"] == first["order_id"]

    await eventually(lambda: _balance_is(api, partner, 10), "the points of the order")
    await eventually(lambda: _mails_mentioning(api, address, first["order_id"][:8]), "the order copy")
    await asyncio.sleep(2)  # a duplicate award or email would arrive by now
    _, orders = await api.call("GET", "/api/ordering/orders", token=partner, expect=200)
    assert [o["order_id"] for o in orders] == [first["order_id"]]
    _, ledger = await api.call("GET", "/api/loyalty/accounts/me/ledger", token=partner, expect=200)
    assert len(ledger) == 1 and ledger[0]["cause_id"] == first["order_id"]
    assert await balance(api, partner) == 10
    copies = [m for m in api.mails_to(address) if first["order_id"][:8] in mail_text(m) + str(m["Subject"])]
    assert len(copies) == 1
    await eventually(lambda: _points_mails(api, address), "the points email")
    assert len(await _points_mails(api, address) or []) == 1


async def test_a_token_of_another_tenant_cannot_read_orders_or_balances_by_their_real_ids(
    api: Api, unique: str
) -> None:
    tenant_a, tenant_b = f"brand-a-{unique}", f"brand-b-{unique}"
    admin_a, admin_b = await api.create_tenant(tenant_a), await api.create_tenant(tenant_b)
    await api.create_product(admin_a, f"ISO{unique}", price_minor=500)
    partner_a_id, partner_a = await api.register_and_activate(tenant_a, f"a.{unique}@pharmacie.test")
    _, partner_b = await api.register_and_activate(tenant_b, f"b.{unique}@pharmacie.test")
    order = await api.order(partner_a, [{"code": f"ISO{unique}", "quantity": 1}])
    await eventually(lambda: _balance_is(api, partner_a, 5), "the points of the order")

    for token in (partner_b, admin_b):
        status, _ = await api.call("GET", f"/api/ordering/orders/{order['order_id']}", token=token)
        assert status == 404
    for path in (f"/api/loyalty/accounts/{partner_a_id}", f"/api/loyalty/accounts/{partner_a_id}/ledger"):
        status, _ = await api.call("GET", path, token=admin_b)
        assert status == 404
        status, _ = await api.call("GET", path, token=admin_a)
        assert status == 200
    status, _ = await api.call("GET", "/api/notify/messages", token=partner_a)
    assert status == 403


async def test_restarting_loyalty_while_orders_flow_loses_no_award_and_doubles_none(
    api: Api, platform: Platform, unique: str
) -> None:
    tenant = f"brand-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, f"FLOW{unique}", price_minor=100)
    _, partner = await api.register_and_activate(tenant, f"flow.{unique}@pharmacie.test")
    await api.order(partner, [{"code": f"FLOW{unique}", "quantity": 1}])  # 1 point; products are known

    async def place(count: int) -> None:
        for _ in range(count):
            await api.order(partner, [{"code": f"FLOW{unique}", "quantity": 1}])

    placing = asyncio.create_task(place(30))
    await asyncio.sleep(0.5)
    await platform.stop_service("loyalty", signal.SIGKILL)
    await asyncio.sleep(1)
    await platform.start_service("loyalty")
    await placing
    await platform.wait_ready()

    assert await eventually(lambda: _balance_is(api, partner, 31), "every order's points", timeout=60) == 31
    await asyncio.sleep(1.5)
    _, ledger = await api.call("GET", "/api/loyalty/accounts/me/ledger", token=partner, expect=200)
    assert len(ledger) == 31
    assert len({entry["cause_id"] for entry in ledger}) == 31
    assert await balance(api, partner) == 31
