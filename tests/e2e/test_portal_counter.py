"""The shop counter in a real Chromium: the manager creates a shop, its shop account and an earning
rule; the shop, on a phone, opens a customer's card and records a purchase; the customer's page on
her phone shows the points and her card's QR code. Rewards taken at the counter and online (a code
by email, used once); gift cards sold at a shop and bought online through the payment provider's
page, each emailed to its owner with its PIN; her card laid out to print."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.e2e.browser import serious_violations
from tests.e2e.conftest import PASSWORD, Api, Browsing, eventually, mail_text, merchant, sign_in

pytestmark = [pytest.mark.asyncio(loop_scope="package")]


async def test_a_merchant_signs_up_and_her_shop_records_a_purchase_the_customer_sees_on_her_phone(
    api: Api, browsing: Browsing, unique: str
) -> None:
    # A merchant signs up from the platform's front page; her space exists once she follows the link.
    tenant, manager = f"sh-{unique}", f"lina-{unique}@bijoux.test"
    office = await browsing.page()
    await office.goto("/")
    await office.get_by_role("link", name="Commerçant ? Ouvrez votre espace fidélité").click()
    await office.get_by_label("Nom de votre commerce").fill("Bijoux Lina")
    await office.get_by_label("Adresse de votre espace").fill(tenant)
    await office.get_by_label("Votre nom").fill("Lina")
    await office.get_by_label("E-mail").fill(manager)
    await office.get_by_label("Mot de passe").fill(PASSWORD)
    await office.get_by_role("button", name="S'inscrire").click()
    await expect(office.get_by_role("heading", name="Consultez vos e-mails")).to_be_visible()
    assert await serious_violations(office) == []

    async def the_link() -> str | None:
        for mail in api.mails_to(manager):
            if found := re.search(r"https?://[^/\s]+(/merchants/sign-up/[\w-]+)", mail_text(mail)):
                return found.group(1)
        return None

    await office.goto(await eventually(the_link, "the email with the link"))
    await office.get_by_role("button", name="Créer mon espace").click()
    await expect(office.get_by_text("Votre espace est créé")).to_be_visible()
    await office.get_by_label("Identifiant").fill(manager)
    await office.get_by_label("Mot de passe").fill(PASSWORD)
    await office.get_by_role("button", name="Se connecter").click()
    admin = await api.login(tenant, manager)

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
    await office.get_by_label("Nom", exact=True).fill("1 point par euro")
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
    qr = phone.get_by_role("img", name="QR code de ma carte")
    await expect(qr).to_be_visible()
    assert await qr.evaluate("image => image.complete && image.naturalWidth > 0")  # not a broken image
    await expect(phone.get_by_role("cell", name="Points gagnés (en boutique)")).to_be_visible()
    assert await serious_violations(phone) == []


async def test_a_reward_is_taken_at_the_counter_with_a_purchase(
    api: Api, browsing: Browsing, unique: str
) -> None:
    shop = await merchant(api, unique, "rw")
    tenant, admin, staff, card = shop.tenant, shop.admin, shop.staff_email, shop.card
    assert (await shop.visit(api, 4590))[0] == 201

    # The manager offers 10 % off for 40 points.
    office = await browsing.page()
    await sign_in(office, tenant, f"admin@{tenant}.test")
    await office.goto(f"/{tenant}/admin")
    await office.get_by_role("link", name="Programmes de fidélité").click()
    await office.get_by_label("Titre").fill("Remise 10 %")
    await office.get_by_label("Type").select_option("discount")
    await office.get_by_label("Pourcentage déduit (remise, cashback)").fill("10")
    await office.get_by_label("Coût en points").fill("40")
    await office.get_by_role("button", name="Ajouter le programme").click()
    await expect(office.get_by_role("cell", name="Remise 10 %")).to_be_visible()
    assert await serious_violations(office) == []
    pros = {"name": "5 % pour les pros", "earns": "percent", "percent_bp": 500, "professionals_only": True}
    await api.call("POST", "/api/loyalty/counter/rules", token=admin, expect=201, json=pros)
    await office.goto(f"/{tenant}/admin/loyalty-rules")
    await expect(
        office.get_by_role("cell", name="5 % pour les pros · professionnels uniquement")
    ).to_be_visible()

    # At the counter she takes it with a purchase of 20 €: 40 points spent, 2 € off, 18 points earned.
    counter = await browsing.page(phone=True)
    await sign_in(counter, tenant, staff)
    await counter.goto(f"/{tenant}/counter/cards/{card}")
    await expect(counter.locator("#balance")).to_have_text("45")
    await counter.get_by_label("Montant de l'achat en euros (vide : un passage)").fill("20")
    await counter.get_by_label("Remise 10 % (40 points)").check()
    await counter.get_by_role("button", name="Enregistrer").click()
    await expect(counter.locator("#recorded")).to_contain_text("40 points dépensés, 2,00")
    await expect(counter.locator("#recorded")).to_contain_text("18 points gagnés, solde 23 points")
    await expect(counter.locator("#balance")).to_have_text("23")
    # With 23 points left the reward is not offered any more.
    await expect(counter.get_by_label("Remise 10 % (40 points)")).to_have_count(0)
    assert await serious_violations(counter) == []

    # The shop's journal, searched by her card; the manager's dashboard of the day.
    await counter.goto(f"/{tenant}/counter/journal")
    await counter.get_by_label("Le numéro de carte d'une cliente").fill(card)
    await counter.get_by_role("button", name="Rechercher").click()
    await expect(counter.locator("#journal tbody tr")).to_have_count(2)
    await expect(counter.get_by_role("cell", name="achat · avantages")).to_be_visible()
    assert await serious_violations(counter) == []
    await office.goto(f"/{tenant}/admin/loyalty-dashboard")
    await expect(office.locator("#total-visits")).to_have_text("2")
    await expect(office.get_by_role("link", name="Télécharger en CSV")).to_be_visible()
    assert await serious_violations(office) == []


async def test_a_customer_takes_a_reward_online_gets_its_code_by_email_and_a_shop_uses_it_once(
    api: Api, browsing: Browsing, unique: str
) -> None:
    shop = await merchant(api, unique, "vc")
    tenant, staff, customer = shop.tenant, shop.staff_email, shop.customer_email
    program = {"title": "Un rouge à lèvres", "kind": "gift", "gift": "Rouge à lèvres", "points_cost": 30}
    await api.call("POST", "/api/loyalty/counter/programs", token=shop.admin, expect=201, json=program)
    assert (await shop.visit(api, 5000))[0] == 201

    # On her phone she takes the gift for 30 of her 50 points: the code is shown once, and emailed.
    phone = await browsing.page(phone=True)
    await sign_in(phone, tenant, customer)
    await phone.goto(f"/{tenant}/points")
    await phone.get_by_role("button", name="Obtenir son code").click()
    code = (await phone.locator("#code").text_content() or "").strip()
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", code), code
    assert await serious_violations(phone) == []
    await phone.get_by_role("link", name="Retour à mes points").click()
    await expect(phone.locator("#balance")).to_have_text("20")
    await expect(phone.get_by_role("cell", name="à utiliser")).to_be_visible()

    async def emailed() -> bool:
        return any(code in mail_text(mail) for mail in api.mails_to(customer))

    await eventually(emailed, "the email with her code")

    # The shop uses it once; a second time it is refused.
    counter = await browsing.page(phone=True)
    await sign_in(counter, tenant, staff)
    await counter.goto(f"/{tenant}/counter")
    await counter.get_by_label("Code à utiliser").fill(code.lower())
    await counter.get_by_role("button", name="Utiliser le code").click()
    await expect(counter.locator("#voucher-redeemed")).to_be_visible()
    assert await serious_violations(counter) == []
    await counter.get_by_label("Code à utiliser").fill(code)
    await counter.get_by_role("button", name="Utiliser le code").click()
    await expect(counter.locator(".problems")).to_be_visible()
    await phone.reload()
    await expect(phone.get_by_role("cell", name="utilisé", exact=True)).to_be_visible()


async def test_a_gift_card_is_sold_then_partly_redeemed_with_its_pin(
    api: Api, browsing: Browsing, unique: str
) -> None:
    shop = await merchant(api, unique, "gc")
    tenant, staff, card, customer = shop.tenant, shop.staff_email, shop.card, shop.customer_email

    # The manager prints a batch of physical cards.
    office = await browsing.page()
    await sign_in(office, tenant, f"admin@{tenant}.test")
    await office.goto(f"/{tenant}/admin")
    await office.get_by_role("link", name="Lots de cartes cadeaux").click()
    await office.get_by_label("Nom du lot").fill("Noël")
    await office.get_by_label("Combien de cartes").fill("2")
    await office.get_by_role("button", name="Générer le lot").click()
    await expect(office.locator("#batch tbody tr")).to_have_count(2)
    assert await serious_violations(office) == []

    # The shop sells a virtual card of 50 € for the customer, then takes 20 € off it with its PIN.
    counter = await browsing.page(phone=True)
    await sign_in(counter, tenant, staff)
    await counter.goto(f"/{tenant}/counter")
    await counter.get_by_role("link", name="Cartes cadeaux : en vendre une, en utiliser une").click()
    await counter.get_by_label("Montant en euros").fill("50")
    await counter.get_by_label("Carte de fidélité de la cliente à qui elle est destinée (facultatif)").fill(
        card
    )
    await counter.get_by_role("button", name="Vendre").click()
    await expect(counter.locator("#sold")).to_contain_text("la carte vaut 50,00")
    number = (await counter.locator("#sold-number").text_content() or "").strip()
    pin = (await counter.locator("#sold-pin").text_content() or "").strip()
    assert await serious_violations(counter) == []
    await counter.get_by_label("Numéro de la carte cadeau").fill(number)
    await counter.get_by_label("Son code PIN").fill("000000" if pin != "000000" else "111111")
    await counter.get_by_label("Montant à déduire, en euros").fill("20")
    await counter.get_by_role("button", name="Déduire de la carte").click()
    await expect(counter.locator(".problems")).to_contain_text("Code PIN erroné")
    await counter.get_by_label("Son code PIN").fill(pin)
    await counter.get_by_role("button", name="Déduire de la carte").click()
    await expect(counter.locator("#redeemed")).to_contain_text("Il reste 30,00")
    # The shop's journal, searched by the gift card's number: its sale and its use.
    await counter.goto(f"/{tenant}/counter/journal")
    await counter.get_by_label("Ou le numéro d'une carte cadeau").fill(number)
    await counter.get_by_role("button", name="Rechercher").click()
    await expect(counter.locator("#journal tbody tr")).to_have_count(2)
    await expect(counter.get_by_role("cell", name=f"carte cadeau utilisée · …{number[-4:]}")).to_be_visible()
    assert await serious_violations(counter) == []

    phone = await browsing.page(phone=True)
    await sign_in(phone, tenant, customer)
    await phone.goto(f"/{tenant}/points")
    await expect(phone.get_by_role("cell", name=number)).to_be_visible()
    await expect(phone.get_by_role("cell", name="30,00\u00a0€")).to_be_visible()

    # The card sold for her reached her by email, with its PIN.
    async def delivered(number: str) -> str | None:
        texts = [mail_text(mail) for mail in api.mails_to(customer)]
        return next((text for text in texts if number in text), None)

    async def shop_card_emailed() -> bool:
        return (text := await delivered(number)) is not None and f"Code PIN : {pin}" in text

    await eventually(shop_card_emailed, "the email of the gift card sold for her")

    # She buys a 25 € card online for herself: the provider's page, back to her points, the email.
    await phone.get_by_label("Montant de la carte cadeau, en euros").fill("25")
    await phone.get_by_role("button", name="Payer par carte").click()
    await expect(phone.get_by_role("heading", name="Fake payment provider")).to_be_visible()
    await phone.get_by_label("Card number").fill("4242 4242 4242 4242")
    await phone.get_by_role("button", name="Pay").click()
    await expect(phone.get_by_text(re.compile("Votre carte cadeau de 25,00.* est payée"))).to_be_visible()
    await phone.reload()
    await expect(phone.get_by_role("cell", name="25,00\u00a0€")).to_be_visible()
    cells = phone.locator("table").filter(has_text="Mes cartes cadeaux").locator("tbody tr td:first-child")
    numbers = {(text or "").strip() for text in await cells.all_text_contents()}
    [bought] = numbers - {number}

    async def bought_emailed() -> bool:
        return (text := await delivered(bought)) is not None and "Code PIN : " in text

    await eventually(bought_emailed, "the email of the gift card she bought")
    assert await serious_violations(phone) == []

    # Her card, laid out to print.
    await phone.get_by_role("link", name="Imprimer ma carte").click()
    await expect(phone.locator("#card-number")).to_have_text(card)
    qr = phone.get_by_role("img", name="QR code de ma carte")
    await expect(qr).to_be_visible()
    assert await qr.evaluate("image => image.complete && image.naturalWidth > 0")
    assert await serious_violations(phone) == []
