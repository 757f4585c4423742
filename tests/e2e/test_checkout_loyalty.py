"""Paying orders with loyalty on the real stack: ordering and loyalty agree on every order through
their internal topics — an order paid partly with points and a gift card, then cancelled, gives both
back; loyalty killed while orders paid with points flow in settles every order once."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest

from libs.devstack.devrun import Platform
from tests.e2e.conftest import Api, eventually

pytestmark = [pytest.mark.asyncio(loop_scope="package")]


async def _points(api: Api, token: str) -> int:
    _, account = await api.call("GET", "/api/loyalty/accounts/me", token=token, expect=200)
    return int(account["balance"])


async def _status(api: Api, token: str, order_id: str) -> str:
    _, order = await api.call("GET", f"/api/ordering/orders/{order_id}", token=token, expect=200)
    return str(order["status"])


async def _buyer_with_points(api: Api, unique: str, price_minor: int, quantity: int) -> tuple[str, str, str]:
    """(admin, buyer, product code): the buyer earned points with a first order (1 per euro)."""
    tenant = f"pay-{unique}"
    admin = await api.create_tenant(tenant)
    code = f"PAY{unique}".upper()
    await api.create_product(admin, code, price_minor=price_minor)
    _, buyer = await api.register_and_activate(tenant, f"buyer.{unique}@pharmacie.test")
    await api.order(buyer, [{"code": code, "quantity": quantity}])
    earned = price_minor * quantity // 100

    async def awarded() -> int | None:
        return await _points(api, buyer) if await _points(api, buyer) == earned else None

    await eventually(awarded, "the first order's points")
    return admin, buyer, code


async def test_an_order_paid_with_points_and_a_gift_card_then_cancelled_gives_both_back(
    api: Api, unique: str
) -> None:
    admin, buyer, code = await _buyer_with_points(api, unique, 3000, 4)  # 120 points
    _, card = await api.call(
        "POST", "/api/loyalty/gift-cards/sales", token=admin, expect=201, json={"amount_minor": 5000}
    )
    secret = {"number": card["number"], "pin": card["pin"]}

    async def card_balance() -> int:
        _, checked = await api.call(
            "POST", "/api/loyalty/gift-cards/balance-checks", token=admin, expect=200, json=secret
        )
        return int(checked["balance_minor"])

    ask = {"lines": [{"code": code, "quantity": 2}], "points": 100, "gift_card_minor": 2000}
    _, quote = await api.call("POST", "/api/ordering/checkout/quotes", token=buyer, expect=201, json=ask)
    total = quote["checkout"]["totals"]["total_incl_vat_minor"]  # 60.00 and its VAT
    assert quote["checkout"]["loyalty"]["due_minor"] == total - 100 - 2000
    _, order = await api.call(
        "POST",
        f"/api/ordering/checkout/quotes/{quote['quote_id']}/confirm",
        token=buyer,
        expect=201,
        json={"gift_card": secret},
    )
    assert order["status"] == "pending"
    # A reader who says she would wait is answered once loyalty has held the items: a few reads at
    # most (each waits up to 5 s), where reads that did not wait would all find it pending.
    for _ in range(6):
        _, read = await api.call(
            "GET",
            f"/api/ordering/orders/{order['order_id']}",
            token=buyer,
            expect=200,
            headers={"Prefer": "wait=5"},
        )
        if read["status"] != "pending":
            break
    assert read["status"] == "confirmed"
    assert await card_balance() == 3000
    # 120 - 100 reserved + 39 earned on the eligible 60.00 less what loyalty paid (1.00 + 20.00).
    await eventually(lambda: _at(api, buyer, 59), "the points after the order")

    await api.call(
        "POST", f"/api/ordering/orders/{order['order_id']}/cancel", token=buyer, expect=200, json={}
    )
    await eventually(lambda: _at(api, buyer, 120), "the points back (and the order's own taken back)")

    async def card_back() -> bool:
        return await card_balance() == 5000

    await eventually(card_back, "the gift card's amount back")
    _, sagas = await api.call("GET", "/api/ordering/checkout/sagas", token=admin, expect=200)
    assert sagas == []  # nothing waits on loyalty any more


async def _at(api: Api, token: str, points: int) -> bool:
    return await _points(api, token) == points


async def test_loyalty_killed_while_orders_paid_with_points_flow_settles_every_order_once(
    api: Api, platform: Platform, unique: str
) -> None:
    admin, buyer, code = await _buyer_with_points(api, unique, 100, 300)  # 300 points
    orders: list[dict[str, Any]] = []

    async def place(count: int) -> None:
        for _ in range(count):
            _, order = await api.call(
                "POST",
                "/api/ordering/orders",
                token=buyer,
                expect=201,
                json={"lines": [{"code": code, "quantity": 1}], "points": 1},
            )
            orders.append(order)

    placing = asyncio.gather(*(place(20) for _ in range(10)))  # 200 orders, 10 at a time
    await asyncio.sleep(0.5)
    await platform.stop_service("loyalty", signal.SIGKILL)
    await asyncio.sleep(1)
    await platform.start_service("loyalty")
    await placing
    await platform.wait_ready()
    assert len(orders) == 200

    async def all_confirmed() -> bool:
        statuses = await asyncio.gather(*(_status(api, buyer, o["order_id"]) for o in orders))
        return set(statuses) == {"confirmed"}

    await eventually(all_confirmed, "every order confirmed", timeout=90)
    _, ledger = await api.call("GET", "/api/loyalty/accounts/me/ledger?limit=500", token=buyer, expect=200)
    reserved = [entry for entry in ledger if entry["kind"] == "reserve"]
    assert len(reserved) == 200 and {e["cause_id"] for e in reserved} == {o["order_id"] for o in orders}
    assert not [entry for entry in ledger if entry["kind"] == "release"]
    assert await _points(api, buyer) == 300 - 200  # each order's 0.99 € earns no whole point
    # No approval policy: each order had loyalty settle its points as it held them; no saga waits.
    assert (await api.call("GET", "/api/ordering/checkout/sagas", token=admin, expect=200))[1] == []
