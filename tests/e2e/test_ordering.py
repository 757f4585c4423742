"""Ordering's life across the services, through the gateway: the brand's ERP (an API client) reads
a confirmed order with what it needs and reports it shipped then delivered; points come on
confirmation; its failure paths (an order it does not know, a step out of turn, a revoked client)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Api, eventually

pytestmark = [pytest.mark.asyncio(loop_scope="package"), pytest.mark.slow]

HOME = {"recipient": "Claire Martin", "line1": "12 rue des Lilas", "postal_code": "69004", "city": "Lyon"}


async def test_the_erp_reads_a_confirmed_order_and_reports_its_delivery(api: Api, unique: str) -> None:
    tenant = f"erp-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, "CREME-01", 1290)
    seller = f"s-{unique}@conseil.test"
    await api.invite(admin, seller, "seller")  # a consultant: no organisation, her own address
    token = await api.login(tenant, seller)
    order = await api.order(token, [{"code": "CREME-01", "quantity": 2}])
    status, placed = await api.call(
        "POST",
        "/api/ordering/orders",
        token=token,
        json={"lines": [{"code": "CREME-01", "quantity": 1}], "address": HOME, "reference": "CONS-7"},
    )
    assert status == 201, placed

    client, erp = await api.api_client(admin, "ERP")

    # The ERP reads the confirmed orders, with the consultant's own address (it travels on no topic).
    _, confirmed = await api.call("GET", "/api/ordering/orders?status=confirmed", token=erp, expect=200)
    assert {o["order_id"] for o in confirmed} == {order["order_id"], placed["order_id"]}
    _, detail = await api.call("GET", f"/api/ordering/orders/{placed['order_id']}", token=erp, expect=200)
    assert detail["checkout"]["choices"]["address"]["line1"] == "12 rue des Lilas"
    assert detail["checkout"]["totals"]["total_incl_vat_minor"] == 1548  # 12,90 + 20 % VAT

    path = f"/api/ordering/orders/{placed['order_id']}/status"
    status, problem = await api.call("POST", path, token=erp, json={"status": "delivered"})
    assert status == 200  # confirmed → delivered is allowed (a delivery reported without its shipping)
    status, problem = await api.call("POST", path, token=erp, json={"status": "shipped"})
    assert (status, problem["order_status"]) == (409, "delivered")
    other = f"/api/ordering/orders/{order['order_id']}/status"
    shipped = {"status": "shipped", "erp_order_number": "SO-88412", "invoice_reference": "INV-1"}
    _, moved = await api.call("POST", other, token=erp, expect=200, json=shipped)
    assert [h["status"] for h in moved["history"]] == ["confirmed", "shipped"]
    unknown = "/api/ordering/orders/7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910/status"
    assert (await api.call("POST", unknown, token=erp, json=shipped))[0] == 404
    # The ERP may do nothing else: no cart, no catalog writes, no other tenant.
    assert (await api.call("GET", "/api/ordering/cart", token=erp))[0] == 403
    assert (await api.call("POST", "/api/catalog/brands", token=erp, json={"name": "X"}))[0] == 403

    # Points came on confirmation, on each order's eligible amount (goods excluding VAT, 1 point per
    # whole euro): 25 for 25,80, 12 for 12,90.
    async def points() -> int | None:
        _, account = await api.call("GET", "/api/loyalty/accounts/me", token=token)
        return account.get("balance") or None

    assert await eventually(points, "the consultant's points") == 37

    # Revoked, the client's token stops working within a second.
    await api.call("POST", f"/api/identity/api-clients/{client['client_id']}/revoke", token=admin, expect=200)

    async def refused() -> bool:
        return (await api.call("GET", "/api/ordering/orders", token=erp))[0] == 401

    await eventually(refused, "the revoked client's token refused")


async def test_a_seller_is_charged_the_discounted_price_the_catalog_shows_her(api: Api, unique: str) -> None:
    tenant = f"sd-{unique}"
    admin = await api.create_tenant(tenant)
    product = await api.create_product(admin, "CREME-01", 1290)
    await api.call("PUT", "/api/catalog/settings", token=admin, expect=200, json={"seller_discount_bp": 2000})
    seller = f"s-{unique}@conseil.test"
    await api.invite(admin, seller, "seller")
    token = await api.login(tenant, seller)
    _, shown = await api.call("GET", f"/api/catalog/products/{product['id']}/price", token=token, expect=200)
    assert shown["price_minor"] == 1032

    async def charged() -> int | None:
        order = await api.order(token, [{"code": "CREME-01", "quantity": 1}])
        price = int(order["lines"][0]["unit_price_minor"])
        return price if price == shown["price_minor"] else None  # the setting's event may still travel

    assert await eventually(charged, "ordering to charge the catalog's seller price") == 1032
