"""Sponsor points in a real Chromium: the admin sets what sponsors earn; a consultant's recruit (she
registered her into her team) orders; the consultant sees her sponsor points apart from her own,
then pays part of an order with them."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.e2e.browser import serious_violations
from tests.e2e.conftest import PASSWORD, Api, Browsing, eventually, order_settles, sign_in
from tests.e2e.test_identity import LINK, _person, _sms_to
from tests.e2e.test_portal import products_known_to_ordering

pytestmark = [pytest.mark.asyncio(loop_scope="package")]
EUR = "\u00a0€"
MINUS = "\u2212"


async def test_a_consultant_earns_sponsor_points_on_her_recruits_order_and_pays_with_them(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"sp-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, "CREME-01", 5000)
    await products_known_to_ordering(api, admin, ["CREME-01"])

    # The admin: sponsors earn 10 % of their recruits' orders, and 15 points on a first order.
    office = await browsing.page()
    await sign_in(office, tenant, f"admin@{tenant}.test")
    await office.goto(f"/{tenant}/admin/loyalty-rules")
    await office.get_by_label(
        "Une marraine gagne ce pourcentage de chaque commande d'une filleule, en points"
    ).fill("10")
    await office.get_by_label("Et ces points sur la première commande d'une filleule").fill("15")
    await office.get_by_role("button", name="Enregistrer les points de parrainage").click()
    await expect(office.get_by_label("Et ces points sur la première commande d'une filleule")).to_have_value(
        "15"
    )
    assert await serious_violations(office) == []

    # The consultant registers a recruit, who activates her account and orders 100,00 (excl. VAT).
    seller = f"s-{unique}@conseil.test"
    await api.invite(admin, seller, "seller")
    seller_token = await api.login(tenant, seller)
    recruit = _person(tenant, activation_channel="sms")
    _, created = await api.call(
        "POST", "/api/identity/accounts/me/team", token=seller_token, expect=201, json=recruit
    )
    token = await _sms_to(api, recruit["phone"], LINK)
    await api.call(
        "POST", "/api/identity/activations", expect=200, json={"token": token, "password": PASSWORD}
    )
    _, session = await api.call(
        "POST",
        "/api/identity/sessions",
        expect=200,
        json={"tenant_id": tenant, "login": created["registration_number"], "password": PASSWORD},
    )
    await api.order(session["access_token"], [{"code": "CREME-01", "quantity": 2}])

    page = await browsing.page()
    await sign_in(page, tenant, seller)

    async def earned() -> bool:
        await page.goto(f"/{tenant}/sponsor-points")
        return await page.locator("#sponsor-balance").text_content() == "25"  # 10 + 15

    await eventually(earned, "the sponsor points of her recruit's order")
    await expect(
        page.get_by_role("cell", name="Points gagnés (première commande d'une filleule)")
    ).to_be_visible()
    assert await serious_violations(page) == []
    await page.goto(f"/{tenant}/points")
    await expect(page.locator("#balance")).to_have_text("0")  # her own points: apart
    await expect(page.get_by_text("première commande d'une filleule")).to_have_count(0)

    # She pays part of her own order with 20 of them.
    await api.call(
        "POST",
        "/api/ordering/cart/lines",
        token=seller_token,
        expect=200,
        json={"lines": [{"code": "CREME-01", "quantity": 1}]},
    )
    await page.goto(f"/{tenant}/cart")
    await page.get_by_role("link", name="Commander le panier").click()
    await expect(page.locator("#sponsor-points-available")).to_contain_text("Et 25 points de parrainage.")
    await page.get_by_label("Points de parrainage à utiliser (facultatif)").fill("20")
    await page.get_by_role("button", name="Voir le devis").click()
    await expect(page.locator("#paid-sponsor-points")).to_have_text(f"{MINUS}0,20{EUR}")
    await page.get_by_role("button", name="Confirmer la commande").click()
    await order_settles(page, "Confirmée", "loyalty to hold her sponsor points")
    await page.goto(f"/{tenant}/sponsor-points")
    await expect(page.locator("#sponsor-balance")).to_have_text("5")
