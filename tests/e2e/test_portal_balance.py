"""The account balance in a real Chromium: a consultant's top-up refused at the provider's page then
accepted; an order paid from her balance, cancelled, refunded less the costs the admin set in the
back office, its points taken back."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from libs.devstack.payments import DECLINED, PAYS
from tests.e2e.browser import serious_violations
from tests.e2e.conftest import Api, Browsing, eventually, sign_in
from tests.e2e.test_balance import pay
from tests.e2e.test_portal import products_known_to_ordering

pytestmark = [pytest.mark.asyncio(loop_scope="package")]
EUR = "\u00a0€"


async def top_up_in_the_browser(page: Page, tenant: str, amount: str, card: str) -> None:
    await page.goto(f"/{tenant}/balance")
    await page.get_by_label("Montant à ajouter, en euros").fill(amount)
    await page.get_by_role("button", name="Payer par carte").click()
    await expect(page.get_by_role("heading", name="Fake payment provider")).to_be_visible()
    await page.get_by_label("Card number").fill(card)
    await page.get_by_role("button", name="Pay").click()


async def test_a_top_up_refused_at_the_provider_then_accepted(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"tu-{unique}"
    admin = await api.create_tenant(tenant)
    seller = f"s-{unique}@conseil.test"
    await api.invite(admin, seller, "seller")
    page = await browsing.page()
    await sign_in(page, tenant, seller)
    await page.get_by_role("link", name="Mon solde").click()
    await expect(page.locator("#balance")).to_have_text(f"0,00{EUR}")

    await top_up_in_the_browser(page, tenant, "50", "4000 0000 0000 0002")
    await expect(
        page.get_by_text(f"Votre rechargement de 50,00{EUR} a été refusé : card declined.")
    ).to_be_visible()
    await expect(page.locator("#balance")).to_have_text(f"0,00{EUR}")

    await top_up_in_the_browser(page, tenant, "50", "4242 4242 4242 4242")
    await expect(page.get_by_text(f"Votre rechargement de 50,00{EUR} est payé")).to_be_visible()
    await expect(page.locator("#balance")).to_have_text(f"50,00{EUR}")
    await expect(page.get_by_role("cell", name="Refusé (card declined)")).to_be_visible()
    assert await serious_violations(page) == []
    assert DECLINED.startswith("4000") and PAYS.startswith("4242")  # the cards the provider knows


async def test_an_order_paid_from_the_balance_is_cancelled_and_refunded_less_the_costs(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"bo-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, "CREME-01", 2000)
    await products_known_to_ordering(api, admin, ["CREME-01"])

    # The admin offers payment from the balance and sets the cancellation costs: 5,00 and 10 %.
    office = await browsing.page()
    await sign_in(office, tenant, f"admin@{tenant}.test")
    await office.goto(f"/{tenant}/admin/checkout")
    await office.get_by_label("Depuis mon solde").check()
    await office.get_by_label("Frais d'annulation retenus sur une commande payée").fill("5")
    await office.get_by_label("Et cette part de ce qui a été payé, en pourcentage").fill("10")
    await office.get_by_role("button", name="Enregistrer", exact=True).click()
    await expect(office.get_by_text("Enregistré.")).to_be_visible()

    seller = f"s-{unique}@conseil.test"
    await api.invite(admin, seller, "seller")
    token = await api.login(tenant, seller)
    _, started = await api.call(
        "POST", "/api/ordering/balance/top-ups", token=token, expect=201, json={"amount_minor": 10_000}
    )
    await pay(started["redirect_url"], PAYS)

    async def credited() -> bool:
        _, held = await api.call("GET", "/api/ordering/balance", token=token, expect=200)
        return bool(held["balance_minor"] == 10_000)

    await eventually(credited, "the top-up credited")
    await api.call(
        "POST",
        "/api/ordering/cart/lines",
        token=token,
        expect=200,
        json={"lines": [{"code": "CREME-01", "quantity": 2}]},
    )

    page = await browsing.page()
    await sign_in(page, tenant, seller)
    await page.goto(f"/{tenant}/cart")
    await page.get_by_role("link", name="Commander le panier").click()
    await expect(page.get_by_label(f"Depuis mon solde (il contient 100,00{EUR})")).to_be_visible()
    await page.get_by_label("Depuis mon solde").check()
    await page.get_by_role("button", name="Voir le devis").click()
    await expect(page.locator("#total-incl")).to_have_text(f"48,00{EUR}")
    await page.get_by_role("button", name="Confirmer la commande").click()
    await expect(page.locator("#order-status")).to_have_text("Confirmée")
    await expect(page.locator("#balance-payment")).to_contain_text(f"Payé depuis votre solde : 48,00{EUR}.")

    await page.get_by_role("button", name="Annuler la commande").click()
    await expect(page.locator("#order-status")).to_have_text("Annulée")
    await expect(page.locator("#balance-payment")).to_contain_text(
        f"Remboursé sur votre solde : 38,20{EUR}, frais d'annulation retenus : 9,80{EUR}."
    )
    await page.get_by_role("link", name="Mon solde").click()
    await expect(page.locator("#balance")).to_have_text(f"90,20{EUR}")
    await expect(page.get_by_text(f"Frais d'annulation retenus : 9,80{EUR}")).to_be_visible()

    # Loyalty took back the 40 points the order earned.
    async def taken_back() -> bool:
        await page.goto(f"/{tenant}/points")
        return await page.get_by_text("Points repris (commande annulée)").count() == 1

    await eventually(taken_back, "the points taken back on the points page")
    await expect(page.locator("#balance")).to_have_text("0")
