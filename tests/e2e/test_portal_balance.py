"""The account balance in a real Chromium: a consultant's top-up refused at the provider's page then
accepted; an order paid from her balance, cancelled, refunded less the costs the admin set in the
back office, its points taken back; a checkout paid partly with points and a gift card, cancelled,
both given back, and the admin's view of the orders waiting on loyalty."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from libs.devstack.payments import DECLINED, PAYS
from tests.e2e.browser import serious_violations
from tests.e2e.conftest import Api, Browsing, at_checkout, eventually, order_settles, sign_in
from tests.e2e.test_balance import pay
from tests.e2e.test_portal import products_known_to_ordering

pytestmark = [pytest.mark.asyncio(loop_scope="package")]
EUR = "\u00a0€"
MINUS = "\u2212"  # what a payment takes off the total


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
    page = await at_checkout(api, browsing, tenant, seller, token, [{"code": "CREME-01", "quantity": 2}])
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


async def test_a_checkout_paid_partly_with_points_and_a_gift_card_then_cancelled_gives_both_back(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"pl-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, "CREME-01", 2000)
    await products_known_to_ordering(api, admin, ["CREME-01"])
    seller = f"s-{unique}@conseil.test"
    await api.invite(admin, seller, "seller")
    token = await api.login(tenant, seller)
    await api.order(token, [{"code": "CREME-01", "quantity": 5}])  # 100,00: 100 points

    async def earned() -> bool:
        _, account = await api.call("GET", "/api/loyalty/accounts/me", token=token, expect=200)
        return bool(account["balance"] == 100)

    await eventually(earned, "the first order's points")
    _, card = await api.call(
        "POST", "/api/loyalty/gift-cards/sales", token=admin, expect=201, json={"amount_minor": 5000}
    )
    page = await at_checkout(api, browsing, tenant, seller, token, [{"code": "CREME-01", "quantity": 2}])
    await expect(page.locator("#points-available")).to_contain_text("Vous avez 100 points")
    await page.get_by_label("Points à utiliser (facultatif)").fill("80")
    await page.get_by_label("Montant à payer avec une carte cadeau, en euros (facultatif)").fill("20")
    await page.get_by_role("button", name="Voir le devis").click()
    await expect(page.locator("#paid-points")).to_have_text(f"{MINUS}0,80{EUR}")
    await expect(page.locator("#due")).to_have_text(f"27,20{EUR}")  # 48,00 - 0,80 - 20,00
    await page.get_by_label("Numéro de la carte cadeau").fill(card["number"])
    await page.get_by_label("Code PIN de la carte cadeau").fill(card["pin"])
    assert await serious_violations(page) == []
    await page.get_by_role("button", name="Confirmer la commande").click()
    await order_settles(page, "Confirmée", "loyalty to hold the points and the gift card")
    await expect(page.locator("#paid-gift-card")).to_have_text(f"{MINUS}20,00{EUR}")
    assert await serious_violations(page) == []
    secret = {"number": card["number"], "pin": card["pin"]}

    async def card_holds(amount: int) -> bool:
        _, checked = await api.call(
            "POST", "/api/loyalty/gift-cards/balance-checks", token=admin, expect=200, json=secret
        )
        return bool(checked["balance_minor"] == amount)

    assert await card_holds(3000)

    await page.get_by_role("button", name="Annuler la commande").click()
    await expect(page.locator("#order-status")).to_have_text("Annulée")
    await eventually(lambda: card_holds(5000), "the gift card's 20,00 back")

    async def points_back() -> bool:
        await page.goto(f"/{tenant}/points")
        return await page.locator("#balance").text_content() == "100"

    await eventually(points_back, "the 80 points back on her points page")
    await expect(page.get_by_text("Points rendus (commande)")).to_be_visible()
    office = await browsing.page()
    await sign_in(office, tenant, f"admin@{tenant}.test")
    await office.get_by_role("link", name="Commandes en attente de la fidélité").click()
    await expect(office.get_by_text("Aucune : la fidélité a répondu pour chaque commande.")).to_be_visible()
    assert await serious_violations(office) == []
