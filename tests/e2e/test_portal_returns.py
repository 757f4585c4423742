"""Returns in a real Chromium: a partner sends back part of a delivered order with a photo; the admin
finds it in her queue and accepts it; the partner sees the decision on the return and the order,
her balance credited, the points of what came back taken back, and an email."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.e2e.browser import serious_violations
from tests.e2e.conftest import Api, Browsing, eventually, mail_subject, sign_in
from tests.e2e.test_portal import products_known_to_ordering

pytestmark = [pytest.mark.asyncio(loop_scope="package")]
EUR = "\u00a0€"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


async def test_a_partial_return_is_accepted_and_its_points_taken_back(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"rt-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, "CREME-01", 2000)
    await products_known_to_ordering(api, admin, ["CREME-01"])
    partner = f"p-{unique}@shop.test"
    await api.invite(admin, partner, "partner")
    token = await api.login(tenant, partner)
    order = await api.order(token, [{"code": "CREME-01", "quantity": 2}])

    async def points() -> int | None:
        _, account = await api.call("GET", "/api/loyalty/accounts/me", token=token)
        return account.get("balance") or None

    assert await eventually(points, "the order's points") == 40
    await api.call(
        "POST",
        f"/api/ordering/orders/{order['order_id']}/status",
        token=admin,
        expect=200,
        json={"status": "delivered"},
    )

    # She sends one of the two creams back, with a photo.
    page = await browsing.page()
    await sign_in(page, tenant, partner)
    await page.goto(f"/{tenant}/orders/{order['order_id']}")
    await page.get_by_label("Quantité à renvoyer CREME-01").fill("1")
    await page.get_by_label("Pourquoi les renvoyez-vous ?").fill("Le pot est fêlé")
    await page.get_by_label("Photos (JPEG, PNG ou WebP, cinq au plus)").set_input_files(
        {"name": "pot.png", "mimeType": "image/png", "buffer": PNG}
    )
    await page.get_by_role("button", name="Demander le retour").click()
    await expect(
        page.get_by_text("Votre retour est demandé : vous serez informé de la décision.")
    ).to_be_visible()
    await expect(page.locator("#return-status")).to_have_text("En attente de décision")
    await expect(page.get_by_role("img", name="Photo 1")).to_be_visible()
    assert await serious_violations(page) == []

    # The admin finds it in her queue and accepts it.
    office = await browsing.page()
    await sign_in(office, tenant, f"admin@{tenant}.test")
    await office.get_by_role("link", name="Retours", exact=True).click()
    await office.locator("table.returns a").first.click()
    await expect(office.get_by_text("Le pot est fêlé")).to_be_visible()
    await office.get_by_role("button", name="Accepter et créditer le solde").click()
    await expect(office.get_by_text("La décision est enregistrée.")).to_be_visible()
    await expect(office.locator("#return-status")).to_have_text("Accepté")

    # She sees the decision, her balance credited and the points of one cream taken back.
    await page.reload()
    await expect(page.locator("#return-decision")).to_have_text(
        f"Accepté : 24,00{EUR} crédités sur le solde."
    )
    await page.goto(f"/{tenant}/orders/{order['order_id']}")
    await expect(page.locator("ul.returns")).to_contain_text("Accepté")
    await page.get_by_role("link", name="Mon solde").click()
    await expect(page.locator("#balance")).to_have_text(f"24,00{EUR}")

    async def taken_back() -> bool:
        await page.goto(f"/{tenant}/points")
        return await page.get_by_text("Points repris (articles retournés)").count() == 1

    await eventually(taken_back, "the points taken back on the points page")
    await expect(page.locator("#balance")).to_have_text("20")

    async def told() -> bool:
        return any("Votre retour de la commande" in mail_subject(m) for m in api.mails_to(partner))

    await eventually(told, "the email telling her the return is accepted")
