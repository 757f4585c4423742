"""The account balance across the stack: a consultant tops up by card at the fake provider, whose
notice reaches ordering through the gateway (a declined card first, a slow provider, the same
notice twice, a forged one), pays an order from her balance, cancels it and gets it back less the
brand's costs while loyalty takes back the points it earned; an order shipped can no longer be
cancelled."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from libs.common.payments import SIGNATURE_HEADER
from libs.devstack.payments import DECLINED, PAYS, SLOW
from tests.e2e.conftest import Api, eventually

pytestmark = [pytest.mark.asyncio(loop_scope="package"), pytest.mark.slow]

NOTICES = "/api/ordering/payments/notices"


async def start_top_up(api: Api, token: str, amount: int) -> dict[str, Any]:
    _, started = await api.call(
        "POST", "/api/ordering/balance/top-ups", token=token, expect=201, json={"amount_minor": amount}
    )
    return dict(started)


async def pay(redirect_url: str, card: str) -> None:
    async with aiohttp.ClientSession() as http, http.post(redirect_url, json={"card": card}) as answer:
        assert answer.status == 200, await answer.text()


async def top_up_status(api: Api, token: str, payment_id: str, wanted: str) -> dict[str, Any]:
    async def decided() -> dict[str, Any] | None:
        _, payment = await api.call(
            "GET", f"/api/ordering/balance/top-ups/{payment_id}", token=token, expect=200
        )
        return dict(payment) if payment["status"] == wanted else None

    return await eventually(decided, f"the top-up {wanted}")


async def test_a_consultant_tops_up_pays_from_her_balance_and_cancels_less_the_costs(
    api: Api, unique: str
) -> None:
    tenant = f"bal-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, "CREME-01", 2000)
    settings = {
        "payment_modes": ["account_balance", "cash_on_delivery"],
        "cancellation_costs_minor": 500,
        "cancellation_costs_bp": 1000,
        "lead_time_days": 0,
    }
    await api.call("PUT", "/api/ordering/checkout/settings", token=admin, expect=200, json=settings)
    seller = f"s-{unique}@conseil.test"
    await api.invite(admin, seller, "seller")
    token = await api.login(tenant, seller)

    # A declined card: the top-up fails with the reason, nothing is credited. Then a good one.
    refused = await start_top_up(api, token, 10_000)
    await pay(refused["redirect_url"], DECLINED)
    failed = await top_up_status(api, token, refused["payment"]["payment_id"], "failed")
    assert failed["failure_reason"] == "card declined"
    accepted = await start_top_up(api, token, 10_000)
    await pay(accepted["redirect_url"], PAYS)
    await top_up_status(api, token, accepted["payment"]["payment_id"], "succeeded")
    _, held = await api.call("GET", "/api/ordering/balance", token=token, expect=200)
    assert held["balance_minor"] == 10_000

    # The provider sends the same notice again, and someone forges one: nothing moves.
    assert api.stack.payments is not None
    [notice] = [n for n in api.stack.payments.sent if accepted["payment"]["payment_id"] in n.body.decode()]
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: notice.signature}
    _, again = await api.call("POST", NOTICES, expect=200, data=notice.body, headers=headers)
    assert again["status"] == "succeeded"
    forged = {"Content-Type": "application/json", SIGNATURE_HEADER: "t=1,v1=00"}
    await api.call("POST", NOTICES, expect=400, data=notice.body.replace(b"10000", b"99999"), headers=forged)
    _, held = await api.call("GET", "/api/ordering/balance", token=token, expect=200)
    assert held["balance_minor"] == 10_000 and len(held["entries"]) == 1

    # A slow provider: pending first, credited when its notice comes.
    slow = await start_top_up(api, token, 1_000)
    await pay(slow["redirect_url"], SLOW)
    _, pending = await api.call(
        "GET", f"/api/ordering/balance/top-ups/{slow['payment']['payment_id']}", token=token, expect=200
    )
    assert pending["status"] == "pending"
    await top_up_status(api, token, slow["payment"]["payment_id"], "succeeded")

    # An order paid from the balance, then cancelled: refunded less 5.00 and 10 %.
    async def paid() -> dict[str, Any] | None:
        lines = [{"code": "CREME-01", "quantity": 2}]
        status, body = await api.call(
            "POST",
            "/api/ordering/orders",
            token=token,
            json={"lines": lines, "payment_mode": "account_balance"},
        )
        return dict(body) if status == 201 else None  # the product may still be on its way

    order = await eventually(paid, "an order paid from the balance")
    total = order["checkout"]["totals"]["total_incl_vat_minor"]
    assert total == 4800  # 2 x 20.00 + 20 % VAT
    _, held = await api.call("GET", "/api/ordering/balance", token=token, expect=200)
    assert held["balance_minor"] == 11_000 - 4800

    async def points() -> int | None:
        _, account = await api.call("GET", "/api/loyalty/accounts/me", token=token)
        return account.get("balance") or None

    assert await eventually(points, "the order's points") == 40

    path = f"/api/ordering/orders/{order['order_id']}/cancel"
    _, cancelled = await api.call("POST", path, token=token, expect=200, json={"reason": "Changed my mind"})
    assert cancelled["status"] == "cancelled"
    costs = 500 + 480
    _, held = await api.call("GET", "/api/ordering/balance", token=token, expect=200)
    assert held["balance_minor"] == 11_000 - costs
    assert (held["entries"][0]["kind"], held["entries"][0]["costs_minor"]) == ("refund", costs)

    async def reversed_() -> list[Any] | None:
        _, ledger = await api.call("GET", "/api/loyalty/accounts/me/ledger", token=token, expect=200)
        return ledger if ledger[0]["kind"] == "reverse" else None

    ledger = await eventually(reversed_, "loyalty to take the points back")
    assert (ledger[0]["points"], ledger[0]["cause_type"]) == (-40, "order-cancelled")

    # Shipped, an order can no longer be cancelled: 409 naming its state, nothing refunded.
    order = await eventually(paid, "a second order")
    client_token = await api.client_token(admin)
    await api.call(
        "POST",
        f"/api/ordering/orders/{order['order_id']}/status",
        token=client_token,
        expect=200,
        json={"status": "shipped"},
    )
    path = f"/api/ordering/orders/{order['order_id']}/cancel"
    status, problem = await api.call("POST", path, token=token, json={})
    assert (status, problem["order_status"]) == (409, "shipped")
    _, held = await api.call("GET", "/api/ordering/balance", token=token, expect=200)
    assert held["balance_minor"] == 11_000 - costs - 4800


async def test_an_order_in_instalments_is_paid_in_part_then_cancelled_and_refunded_to_the_card(
    api: Api, unique: str
) -> None:
    tenant = f"ins-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, "CREME-01", 2000)
    settings = {"payment_modes": ["instalments"], "instalments": 3, "cancellation_costs_minor": 300}
    await api.call("PUT", "/api/ordering/checkout/settings", token=admin, expect=200, json=settings)
    seller = f"s-{unique}@conseil.test"
    await api.invite(admin, seller, "seller")
    token = await api.login(tenant, seller)

    async def placed() -> dict[str, Any] | None:
        lines = [{"code": "CREME-01", "quantity": 2}]
        status, body = await api.call(
            "POST", "/api/ordering/orders", token=token, json={"lines": lines, "payment_mode": "instalments"}
        )
        return dict(body) if status == 201 else None

    order = await eventually(placed, "an order in instalments")
    path = f"/api/ordering/orders/{order['order_id']}/instalments"
    _, parts = await api.call("GET", path, token=token, expect=200)
    assert [p["amount_minor"] for p in parts] == [1600, 1600, 1600]  # 48.00 in three

    _, started = await api.call("POST", f"{path}/pay", token=token, expect=201, json={})
    await pay(started["redirect_url"], PAYS)  # her card is saved for the next two

    async def first_paid() -> bool:
        _, parts = await api.call("GET", path, token=token, expect=200)
        return bool(parts[0]["status"] == "paid")

    await eventually(first_paid, "the first instalment paid")
    cancel = f"/api/ordering/orders/{order['order_id']}/cancel"
    _, cancelled = await api.call("POST", cancel, token=token, expect=200, json={})
    assert cancelled["status"] == "cancelled"
    _, parts = await api.call("GET", path, token=token, expect=200)
    assert [p["status"] for p in parts] == ["paid", "cancelled", "cancelled"]
    assert api.stack.payments is not None
    [paid] = [
        p for p in api.stack.payments.payments.values() if p.reference == started["payment"]["payment_id"]
    ]
    assert paid.refunded_minor == 1600 - 300  # to the card, less the costs


async def test_of_two_orders_racing_for_the_whole_balance_exactly_one_is_paid(api: Api, unique: str) -> None:
    tenant = f"race-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, "CREME-01", 2000)
    modes = {"payment_modes": ["account_balance"]}
    await api.call("PUT", "/api/ordering/checkout/settings", token=admin, expect=200, json=modes)
    seller = f"s-{unique}@conseil.test"
    await api.invite(admin, seller, "seller")
    token = await api.login(tenant, seller)
    started = await start_top_up(api, token, 2400)  # what one order of one cream costs with VAT
    await pay(started["redirect_url"], PAYS)
    await top_up_status(api, token, started["payment"]["payment_id"], "succeeded")
    body = {"lines": [{"code": "CREME-01", "quantity": 1}], "payment_mode": "account_balance"}

    async def known() -> bool:  # the product reaches ordering by its event; a quote spends nothing
        status, _ = await api.call("POST", "/api/ordering/checkout/quotes", token=token, json=body)
        return status == 201

    await eventually(known, "the product in ordering's read model")
    answers = await asyncio.gather(
        *(api.call("POST", "/api/ordering/orders", token=token, json=body) for _ in range(2))
    )

    assert sorted(status for status, _ in answers) == [201, 409]
    [(_, problem)] = [answer for answer in answers if answer[0] == 409]
    assert problem["type"] == "urn:comptoir:problem:insufficient-balance"
    _, held = await api.call("GET", "/api/ordering/balance", token=token, expect=200)
    assert held["balance_minor"] == 0
    _, orders = await api.call("GET", "/api/ordering/orders", token=token, expect=200)
    assert len(orders) == 1
