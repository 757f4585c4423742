"""The shop counter in a real Chromium: the manager creates a shop, its shop account and an earning
rule; the shop, on a phone, opens a customer's card and records a purchase; the customer's page on
her phone shows the points and her card's QR code."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.e2e.browser import serious_violations
from tests.e2e.conftest import PASSWORD, Api, Browsing, sign_in

pytestmark = [pytest.mark.asyncio(loop_scope="package")]


async def test_a_shop_records_a_purchase_and_the_customer_sees_her_points_on_her_phone(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"sh-{unique}"
    admin = await api.create_tenant(tenant)
    office = await browsing.page()
    await sign_in(office, tenant, f"admin@{tenant}.test")

    # The manager creates her shop, then its account, then a rule.
    await office.goto(f"/{tenant}/admin")
    await office.get_by_role("link", name="Boutiques").click()
    await office.get_by_label("Nom").fill("Boutique Bellecour")
    await office.get_by_label("Adresse").fill("3 place Bellecour")
    await office.get_by_label("Code postal").fill("69002")
    await office.get_by_label("Ville").fill("Lyon")
    await office.get_by_label("Horaires d'ouverture").fill("Lun-Sam 9h-19h")
    await office.get_by_role("button", name="Créer la boutique").click()
    await expect(office.get_by_role("heading", name="Boutique Bellecour")).to_be_visible()
    staff = f"caisse-{unique}@bellecour.test"
    await office.get_by_label("E-mail du compte boutique").fill(staff)
    await office.get_by_label("Son mot de passe (à remettre)").fill(PASSWORD)
    await office.get_by_role("button", name="Créer le compte boutique").click()
    await expect(office.get_by_text(staff)).to_be_visible()
    assert await serious_violations(office) == []

    await office.goto(f"/{tenant}/admin/loyalty-rules")
    await office.get_by_label("Nom").fill("1 point par euro")
    await office.get_by_label("Elle donne").select_option("per_amount")
    await office.get_by_label("Points", exact=True).fill("1")
    await office.get_by_role("button", name="Ajouter la règle").click()
    await expect(office.get_by_role("cell", name="1 point par euro")).to_be_visible()
    assert await serious_violations(office) == []

    customer = f"ines-{unique}@example.test"
    created = await api.invite(admin, customer, "customer", card_number=f"97{unique[:8]}".upper())
    card = created["card_number"]

    # The shop, on its phone, types the card number and records a purchase of 45,90 €.
    counter = await browsing.page(phone=True)
    await sign_in(counter, tenant, staff)
    await counter.get_by_role("link", name="Caisse").click()
    await counter.get_by_label("Scannez ou saisissez le numéro de carte").fill(card)
    await counter.get_by_role("button", name="Ouvrir la carte").click()
    await expect(counter.get_by_role("heading", name=f"Carte {card}")).to_be_visible()
    await counter.get_by_label("Montant de l'achat en euros (vide : un passage)").fill("45,90")
    await counter.get_by_role("button", name="Enregistrer").click()
    await expect(counter.locator("#recorded")).to_contain_text("45 points gagnés, solde 45 points")
    await expect(counter.locator("#balance")).to_have_text("45")
    assert await serious_violations(counter) == []
    # A wrong amount names the field and records nothing.
    await counter.get_by_label("Montant de l'achat en euros (vide : un passage)").fill("abc")
    await counter.get_by_role("button", name="Enregistrer").click()
    await expect(counter.locator(".problems")).to_contain_text("Montant")
    await expect(counter.locator("#balance")).to_have_text("45")

    # The customer's phone shows her points and her card.
    phone = await browsing.page(phone=True)
    await sign_in(phone, tenant, customer)
    await phone.goto(f"/{tenant}/points")
    await expect(phone.locator("#balance")).to_have_text("45")
    await expect(phone.locator("#card-number")).to_have_text(card)
    await expect(phone.get_by_role("img", name="QR code de ma carte")).to_be_visible()
    await expect(phone.get_by_role("cell", name="Points gagnés (en boutique)")).to_be_visible()
    assert await serious_violations(phone) == []
