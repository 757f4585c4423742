"""The web portal in a real Chromium, on the real stack through the gateway: a partner's whole
journey, an admin's import, lockout, tenant isolation, sign-out, languages, accessibility and the
keyboard."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.e2e.browser import serious_violations
from tests.e2e.conftest import (
    PASSWORD,
    Api,
    Browsing,
    at_checkout,
    eventually,
    mail_subject,
    mail_text,
    sign_in,
)

pytestmark = [pytest.mark.asyncio(loop_scope="package")]


async def products_known_to_ordering(api: Api, admin: str, codes: list[str]) -> None:
    """Products reach ordering's read model by events: wait until an order of them goes through."""
    await api.order(admin, [{"code": code, "quantity": 1} for code in codes])


async def test_a_partner_registers_activates_quick_orders_and_sees_her_order_and_points(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"web-{unique}"
    admin = await api.create_tenant(tenant)
    await api.organisation(admin, f"C-{unique}")
    for code, price in (("CREME-01", 1290), ("BAUME-03", 890)):
        await api.create_product(admin, code, price)
    await products_known_to_ordering(api, admin, ["CREME-01", "BAUME-03"])
    address = f"claire-{unique}@pharmacie.test"
    page = await browsing.page()

    await page.goto(f"/{tenant}/register")
    await page.get_by_label("E-mail").fill(address)
    await page.get_by_label("Votre nom").fill("Claire")
    await page.get_by_label("Code client (imprimé sur vos factures)").fill(f"C-{unique}")
    await page.get_by_role("button", name="Créer mon compte").click()
    await expect(page.get_by_role("heading", name="Consultez vos e-mails")).to_be_visible()

    async def activation_link() -> str | None:
        for mail in api.mails_to(address):
            found = re.search(r"https?://\S+/activations/[\w-]+", mail_text(mail))
            if found:
                return found.group(0)
        return None

    link = await eventually(activation_link, "the activation email")
    assert link.startswith(f"{api.base}/{tenant}/activations/")
    await page.goto(link)
    await page.get_by_label("Choisissez un mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Activer").click()
    await expect(page.get_by_text("Votre compte est actif : connectez-vous.")).to_be_visible()

    await sign_in(page, tenant, address)
    await expect(page.get_by_role("heading", name="Bienvenue, Claire")).to_be_visible()

    await page.get_by_role("link", name="Commande rapide").first.click()
    await page.get_by_label("Lignes").fill("CREME-01 2\nNOPE-404 1")
    await page.get_by_role("button", name="Transmettre la commande").click()
    rows = page.locator("table.lines tbody tr")
    await expect(rows.nth(1)).to_contain_text("Code produit inconnu.")
    await expect(rows.nth(0)).to_contain_text("OK")
    await expect(page.get_by_label("Lignes")).to_have_value("CREME-01 2\nNOPE-404 1")

    await page.get_by_label("Lignes").fill("CREME-01 2\nBAUME-03 1")
    await page.get_by_role("button", name="Transmettre la commande").click()
    await expect(page.get_by_text("Merci : votre commande est transmise.")).to_be_visible()
    await expect(page.locator("tfoot")).to_contain_text("34,70\u00a0€")
    order_url = page.url

    await page.get_by_role("link", name="Mes commandes").first.click()
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator("tbody")).to_contain_text("34,70\u00a0€")

    async def points_shown() -> bool:
        await page.goto(f"/{tenant}/points")
        return await page.locator("#balance").inner_text() != "0"

    await eventually(points_shown, "the order's points on the points page")
    await expect(page.locator("#balance")).to_have_text("34")
    await expect(page.locator("tbody")).to_contain_text("Points gagnés (commande)")
    assert "/orders/" in order_url


async def test_a_double_click_on_submit_orders_once(api: Api, browsing: Browsing, unique: str) -> None:
    tenant = f"dbl-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, "GEL-01", 500)
    await products_known_to_ordering(api, admin, ["GEL-01"])
    partner = f"p-{unique}@shop.test"
    await api.invite(admin, partner, "partner")
    page = await browsing.page()
    await sign_in(page, tenant, partner)
    await page.goto(f"/{tenant}/quick-order")
    form = page.locator("form[action$='/quick-order']")
    fields = await form.evaluate("f => Object.fromEntries(new FormData(f))")
    fields["lines"] = "GEL-01 3"
    # The same rendered form sent twice, as a double click sends it.
    locations = []
    for _ in range(2):
        response = await page.context.request.post(f"/{tenant}/quick-order", form=fields, max_redirects=0)
        assert response.status == 303
        locations.append(response.headers["location"])
    assert locations[0] == locations[1] and "/orders/" in locations[0]
    token = await api.login(tenant, partner)
    _, orders = await api.call("GET", "/api/ordering/orders", token=token, expect=200)
    assert len(orders) == 1


async def test_an_admin_imports_a_price_list_sees_the_bad_line_then_the_partner_sees_the_new_price(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"imp-{unique}"
    admin = await api.create_tenant(tenant)
    _, brand = await api.call(
        "POST", "/api/catalog/brands", token=admin, expect=201, json={"name": "Lumière"}
    )
    _, product = await api.call(
        "POST",
        "/api/catalog/products",
        token=admin,
        expect=201,
        json={
            "code": "SERUM-02",
            "name": "Sérum",
            "price_minor": 2450,
            "currency": "EUR",
            "brand_id": brand["id"],
        },
    )
    _, price_list = await api.call(
        "POST",
        "/api/catalog/price-lists",
        token=admin,
        expect=201,
        json={"name": "2026", "scope": "brand", "brand_id": brand["id"], "currency": "EUR", "prices": []},
    )
    partner = f"p-{unique}@shop.test"
    await api.invite(admin, partner, "partner")

    page = await browsing.page()
    await sign_in(page, tenant, f"admin@{tenant}.test")
    await page.goto(f"/{tenant}/admin/price-lists/{price_list['id']}")
    bad = b"code,price_minor\nSERUM-02,2100\nNOPE-9,100\n"
    await page.get_by_label("Fichier").set_input_files(
        files=[{"name": "prix.csv", "mimeType": "text/csv", "buffer": bad}]
    )
    await page.get_by_role("button", name="Importer").click()
    await expect(page.get_by_text("Le fichier a été refusé : voir le rapport ci-dessous.")).to_be_visible()
    report = page.locator("table.report tbody tr")
    await expect(report).to_have_count(1)
    await expect(report.first).to_contain_text("3")
    await expect(report.first).to_contain_text("NOPE-9")

    good = b"code,price_minor\nSERUM-02,2100\n"
    await page.get_by_label("Fichier").set_input_files(
        files=[{"name": "prix.csv", "mimeType": "text/csv", "buffer": good}]
    )
    await page.get_by_role("button", name="Importer").click()
    await expect(page.get_by_text("Le fichier a été importé.")).to_be_visible()
    await expect(page.locator("tbody")).to_contain_text("21,00\u00a0€")

    buyer = await browsing.page()
    await sign_in(buyer, tenant, partner)
    await buyer.goto(f"/{tenant}/catalog/{product['id']}")
    await expect(buyer.locator(".price")).to_contain_text("21,00\u00a0€")


async def test_a_locked_out_person_is_told_until_when(api: Api, browsing: Browsing, unique: str) -> None:
    tenant = f"lck-{unique}"
    admin = await api.create_tenant(tenant)
    partner = f"p-{unique}@shop.test"
    await api.invite(admin, partner, "partner")
    page = await browsing.page()
    locked = page.get_by_text("Trop de tentatives de connexion échouées : ce compte est bloqué.")
    for _ in range(7):
        await sign_in(page, tenant, partner, "Wrong-Password-1")
        if await locked.count():
            break
    await expect(locked).to_contain_text(re.compile(r"Réessayez après le \d+ \S+ \d{4}, \d\d:\d\d:\d\d\."))


async def test_other_tenants_pages_are_not_found_and_admin_pages_are_refused_to_a_partner(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant_a, tenant_b = f"ta-{unique}", f"tb-{unique}"
    admin_a = await api.create_tenant(tenant_a)
    admin_b = await api.create_tenant(tenant_b)
    await api.create_product(admin_a, "MASK-01", 700)
    [order] = [await api.order(admin_a, [{"code": "MASK-01", "quantity": 1}])]
    partner_a, partner_b = f"pa-{unique}@shop.test", f"pb-{unique}@shop.test"
    await api.invite(admin_a, partner_a, "partner")
    await api.invite(admin_b, partner_b, "partner")

    page = await browsing.page()
    await sign_in(page, tenant_b, partner_b)
    for path in (f"/{tenant_a}/orders/{order['order_id']}", f"/{tenant_a}/catalog", f"/{tenant_a}/admin"):
        response = await page.goto(path)
        assert response is not None and response.status == 404, path
        await expect(page.get_by_role("heading", name="Page introuvable")).to_be_visible()

    other = await browsing.page()
    await sign_in(other, tenant_a, partner_a)
    for path in (f"/{tenant_a}/admin", f"/{tenant_a}/admin/price-lists", f"/{tenant_a}/counter"):
        response = await other.goto(path)
        assert response is not None and response.status == 403, path
        await expect(other.get_by_role("heading", name="Accès refusé")).to_be_visible()
    response = await other.goto(f"/{tenant_a}/orders/{order['order_id']}")  # the admin's order
    assert response is not None and response.status == 404


async def test_after_signing_out_the_back_button_shows_no_private_page(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"out-{unique}"
    admin = await api.create_tenant(tenant)
    partner = f"p-{unique}@shop.test"
    await api.invite(admin, partner, "partner", display_name="Bérénice")
    page = await browsing.page()
    await sign_in(page, tenant, partner)
    await page.goto(f"/{tenant}/profile")
    await expect(page.get_by_label("Votre nom")).to_have_value("Bérénice")
    await page.get_by_role("button", name="Se déconnecter").click()
    await expect(page.get_by_role("heading", name=re.compile("Connexion"))).to_be_visible()
    await page.go_back()
    # The profile is asked of the server again, which sends to the sign-in page.
    await page.wait_for_url(re.compile(r"/sign-in\?next="))
    await page.wait_for_load_state()
    await expect(page.get_by_role("heading", name=re.compile("Connexion"))).to_be_visible()
    assert "Bérénice" not in await page.content()
    response = await page.goto(f"/{tenant}/profile")
    assert response is not None and "/sign-in" in page.url


async def test_pages_speak_russian_and_french_and_the_reader_can_switch(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"ru-{unique}"
    await api.create_tenant(tenant)
    page = await browsing.page(locale="ru-RU")
    await page.goto(f"/{tenant}/sign-in")
    assert await page.locator("html").get_attribute("lang") == "ru"
    await expect(page.get_by_role("heading", name=re.compile("^Вход в"))).to_be_visible()
    await expect(page.get_by_role("button", name="Войти")).to_be_visible()
    await page.get_by_role("link", name="Français").click()
    await expect(page.get_by_role("heading", name=re.compile("^Connexion à"))).to_be_visible()
    assert await page.locator("html").get_attribute("lang") == "fr"
    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_role("heading", name=re.compile("^Sign in to"))).to_be_visible()


async def test_the_main_screens_have_no_serious_accessibility_violation(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"a11y-{unique}"
    admin = await api.create_tenant(tenant)
    product = await api.create_product(admin, "TONIC-01", 1500)
    order = await api.order(admin, [{"code": "TONIC-01", "quantity": 2}])
    page = await browsing.page()
    await page.goto(f"/{tenant}/sign-in")
    found = {"sign-in": await serious_violations(page)}
    await sign_in(page, tenant, f"admin@{tenant}.test")
    screens = [
        "",
        "catalog",
        f"catalog/{product['id']}",
        "quick-order",
        "cart",
        "orders",
        f"orders/{order['order_id']}",
        "points",
        "documents",
        "profile",
        "counter",
        "admin",
        "admin/organisations",
        "admin/accounts",
        "admin/settings",
        "admin/catalog",
        "admin/products",
        f"admin/products/{product['id']}",
        f"admin/accounts/{(await api.call('GET', '/api/identity/me', token=admin))[1]['account_id']}",
        "admin/price-lists",
        "admin/documents",
        "admin/earning-rule",
        "admin/messages",
        "admin/instalments",
        "returns",
    ]
    for screen in screens:
        response = await page.goto(f"/{tenant}/{screen}")
        assert response is not None and response.status == 200, screen
        found[screen or "home"] = await serious_violations(page)
    await page.goto(f"/{tenant}/quick-order")
    await page.get_by_label("Lignes").fill("NOPE 1")
    await page.get_by_role("button", name="Transmettre la commande").click()
    found["quick-order with errors"] = await serious_violations(page)
    assert {screen: v for screen, v in found.items() if v} == {}


async def _tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching `selector` has the focus, as a keyboard user would."""
    target = page.locator(selector)
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{selector} cannot be reached with the Tab key")


async def test_signing_in_and_ordering_work_with_the_keyboard_alone(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"kbd-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, "SOAP-01", 300)
    await products_known_to_ordering(api, admin, ["SOAP-01"])
    partner = f"p-{unique}@shop.test"
    await api.invite(admin, partner, "partner")
    page = await browsing.page()
    await page.goto(f"/{tenant}/sign-in")
    await _tab_to(page, "#f-login")
    await page.keyboard.type(partner)
    await _tab_to(page, "#f-password")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name=re.compile("^Bienvenue"))).to_be_visible()
    await _tab_to(page, "header nav a[href$='/quick-order']")
    await page.keyboard.press("Enter")
    await _tab_to(page, "#f-lines")
    await page.keyboard.type("SOAP-01 4")
    await _tab_to(page, "form[action$='/quick-order'] button[type=submit]")
    await page.keyboard.press("Enter")
    await expect(page.get_by_text("Merci : votre commande est transmise.")).to_be_visible()
    await expect(page.locator("tfoot")).to_contain_text("12,00\u00a0€")


async def test_a_phone_sized_screen_shows_the_catalog_without_sideways_scrolling(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"tel-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, "LONG-NAMED-PRODUCT-01", 1990)
    page = await browsing.page()
    await page.set_viewport_size({"width": 375, "height": 740})
    await sign_in(page, tenant, f"admin@{tenant}.test")
    for screen in ("catalog", "quick-order", "admin/price-lists"):
        await page.goto(f"/{tenant}/{screen}")
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (screen, overflow)


NEW_PASSWORD = "Fresh-Password-42"


async def test_a_password_an_admin_set_is_changed_at_first_sign_in(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"fc-{unique}"
    admin = await api.create_tenant(tenant)
    _, settings = await api.call("GET", "/api/identity/tenant/settings", token=admin, expect=200)
    settings["password_change_at_first_login"] = True
    await api.call("PUT", "/api/identity/tenant/settings", token=admin, expect=200, json=settings)
    partner = f"p-{unique}@shop.test"
    await api.invite(admin, partner, "partner")
    page = await browsing.page()
    await sign_in(page, tenant, partner)
    await expect(page.get_by_role("heading", name="Choisissez votre propre mot de passe")).to_be_visible()
    await page.get_by_label("Nouveau mot de passe").fill("short")
    await page.get_by_role("button", name="Enregistrer et continuer").click()
    await expect(page.locator(".problems")).to_contain_text("Ce mot de passe ne respecte pas les règles.")
    await page.get_by_label("Nouveau mot de passe").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Enregistrer et continuer").click()
    await expect(page.get_by_role("heading", name=re.compile("^Bienvenue"))).to_be_visible()


async def test_a_forgotten_password_is_replaced_with_the_code_received(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"rc-{unique}"
    admin = await api.create_tenant(tenant)
    partner = f"p-{unique}@shop.test"
    await api.invite(admin, partner, "partner")
    page = await browsing.page()
    await page.goto(f"/{tenant}/sign-in")
    await page.get_by_role("link", name="Mot de passe oublié ?").click()
    # The sign-in page has an "Identifiant" too: fill the recovery page's, once it is there.
    await expect(page.get_by_role("heading", name="Choisissez un nouveau mot de passe")).to_be_visible()
    await page.get_by_label("Identifiant").fill(partner)
    await page.get_by_role("button", name="M'envoyer un code").click()
    await expect(page.get_by_text("Si un compte correspond, un code est en route.")).to_be_visible()

    async def code() -> str | None:
        texts = [mail_text(m) for m in api.mails_to(partner)]
        return next((m.group(1) for text in texts if (m := re.search(r"\b(\d{6})\b", text))), None)

    received = await eventually(code, "the recovery code by email")
    await page.get_by_label("Code reçu").fill(received)
    await page.get_by_label("Nouveau mot de passe").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Changer mon mot de passe").click()
    await expect(page.get_by_text("Votre mot de passe a été changé : connectez-vous avec.")).to_be_visible()
    await sign_in(page, tenant, partner, NEW_PASSWORD)
    await expect(page.get_by_role("heading", name=re.compile("^Bienvenue"))).to_be_visible()


async def test_a_shop_registers_customers_at_the_counter_with_or_without_a_card(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"sh-{unique}"
    admin = await api.create_tenant(tenant)
    shop = f"shop-{unique}@shop.test"
    await api.invite(admin, shop, "shop")
    page = await browsing.page()
    await sign_in(page, tenant, shop)
    await page.get_by_role("link", name="Caisse").first.click()
    await page.get_by_label("E-mail").fill(f"anna-{unique}@client.test")
    await page.get_by_role("button", name="Inscrire").click()
    await expect(page.locator(".problems")).to_contain_text("Nom: Obligatoire.")  # a name is needed
    await page.get_by_label("Prénom").fill("Anna")
    await page.get_by_label("Nom de famille").fill("Durand")
    await page.get_by_role("button", name="Inscrire").click()
    await expect(page.locator(".notice")).to_contain_text(re.compile(r"Numéro de carte : \S+\."))
    await page.get_by_label("Numéro de la carte remise (vide : un numéro est attribué)").fill(
        "CARD" + unique.upper()
    )
    await page.get_by_label("E-mail").fill(f"boris-{unique}@client.test")
    await page.get_by_label("Prénom").fill("Boris")
    await page.get_by_label("Nom de famille").fill("Ivanov")
    await page.get_by_role("button", name="Inscrire").click()
    await expect(page.locator(".notice")).to_contain_text(f"Numéro de carte : CARD{unique.upper()}.")
    await page.get_by_label("E-mail").fill(f"boris-{unique}@client.test")
    await page.get_by_label("Prénom").fill("Boris")
    await page.get_by_label("Nom de famille").fill("Ivanov")
    await page.get_by_role("button", name="Inscrire").click()
    await expect(page.locator(".problems")).to_contain_text("Un compte utilise déjà cet e-mail.")


async def test_a_seller_registers_a_recruit_who_joins_her_team(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"sl-{unique}"
    admin = await api.create_tenant(tenant)
    seller = f"seller-{unique}@vdi.test"
    await api.invite(admin, seller, "seller")
    page = await browsing.page()
    await sign_in(page, tenant, seller)
    await page.get_by_role("link", name="Mon équipe").first.click()
    await page.get_by_role("button", name="Inscrire").click()  # the browser checks the required fields
    await expect(page.locator("tbody")).to_contain_text("Aucun pour l'instant.")
    fields = {
        "E-mail": f"nina-{unique}@vdi.test",
        "Prénom": "Nina",
        "Nom de famille": "Petrova",
        "Date de naissance": "1990-05-17",
        "Téléphone mobile (+33…)": "+33612345678",
        "Numéro et rue": "3 rue des Lilas",
        "Code postal": "69003",
        "Ville": "Lyon",
    }
    for label, value in fields.items():
        await page.get_by_label(label, exact=True).fill(value)
    await page.get_by_label("Sous forme de").select_option("code")
    await page.get_by_role("button", name="Inscrire").click()
    await expect(page.locator(".notice")).to_contain_text("Inscrite :")
    await expect(page.locator("tbody")).to_contain_text("Nina Petrova")

    # Nina got a code by SMS: she activates with it (asking for another says the same whatever).
    nina = await browsing.page()
    await nina.goto(f"/{tenant}/activate-by-code")
    await nina.locator("#f-resend-login").fill(f"nobody-{unique}@vdi.test")
    await nina.get_by_role("button", name="M'en envoyer un nouveau").click()
    await expect(nina.locator(".notice")).to_contain_text("un nouveau code ou lien est en route")

    async def sms_code() -> str | None:
        assert api.stack.sms is not None
        texts = [sms.text for sms in api.stack.sms.messages() if sms.to == "+33612345678"]
        return next((m.group(1) for text in texts if (m := re.search(r"\b(\d{4,10})\b", text))), None)

    code = await eventually(sms_code, "the activation code by SMS")
    await nina.locator("#f-login").fill(f"nina-{unique}@vdi.test")
    await nina.get_by_label("Code reçu").fill(code)
    await nina.get_by_label("Choisissez un mot de passe").fill(PASSWORD)
    await nina.get_by_role("button", name="Activer", exact=True).click()
    await expect(nina.get_by_text("Votre compte est actif : connectez-vous.")).to_be_visible()


async def test_closing_an_account_asks_for_confirmation_and_ends_it(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"cl-{unique}"
    admin = await api.create_tenant(tenant)
    partner = f"p-{unique}@shop.test"
    await api.invite(admin, partner, "partner")
    page = await browsing.page()
    await sign_in(page, tenant, partner)
    await page.goto(f"/{tenant}/profile")
    await page.get_by_role("link", name="Fermer mon compte").click()
    await expect(page.get_by_text("Vos points sont perdus.", exact=False)).to_be_visible()
    await page.get_by_label("Votre mot de passe, pour confirmer").fill(PASSWORD)
    await page.get_by_role("button", name="Fermer mon compte").click()
    await expect(page.locator(".problems")).to_contain_text("Cochez la case pour confirmer.")
    await page.get_by_label("Votre mot de passe, pour confirmer").fill(PASSWORD)
    await page.get_by_label("J'ai compris : fermer mon compte définitivement").check()
    await page.get_by_role("button", name="Fermer mon compte").click()
    await expect(page.get_by_text("Votre compte est fermé.")).to_be_visible()
    await sign_in(page, tenant, partner)
    await expect(page.locator(".problems")).to_contain_text("L'identifiant ou le mot de passe est incorrect.")


async def test_an_admin_creates_a_product_edits_its_price_then_retires_it(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"pr-{unique}"
    await api.create_tenant(tenant)
    partner = f"p-{unique}@shop.test"
    admin_token = await api.login(tenant, f"admin@{tenant}.test")
    await api.invite(admin_token, partner, "partner")
    page = await browsing.page()
    await sign_in(page, tenant, f"admin@{tenant}.test")
    await page.goto(f"/{tenant}/admin/products")
    await page.get_by_label("Code (ne change jamais)").fill("HUILE-07")
    await page.get_by_label("Nom", exact=True).fill("Huile sèche")
    await page.get_by_label("Prix de base HT (là où aucun tarif ne s'applique)").fill("douze")
    await page.get_by_role("button", name="Créer").click()
    await expect(page.locator(".problems")).to_contain_text("Un montant, par exemple 12,90.")
    await page.get_by_label("Prix de base HT (là où aucun tarif ne s'applique)").fill("18,50")
    await page.get_by_label("Taux de TVA, en pourcentage").fill("5,5")
    await page.get_by_role("button", name="Créer").click()
    await expect(page.get_by_role("heading", name="HUILE-07 — Huile sèche")).to_be_visible()
    await expect(page.get_by_label("Taux de TVA, en pourcentage")).to_have_value("5,5")
    await page.get_by_label("Prix de base HT (là où aucun tarif ne s'applique)").fill("19,90")
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(page.get_by_text("Enregistré.")).to_be_visible()
    await expect(page.get_by_label("Prix de base HT (là où aucun tarif ne s'applique)")).to_have_value(
        "19,90"
    )

    buyer = await browsing.page()
    await sign_in(buyer, tenant, partner)
    await buyer.goto(f"/{tenant}/catalog")
    await expect(buyer.locator("table.products")).to_contain_text("19,90\u00a0€")

    await page.get_by_label("En vente (décoché : retiré, les partenaires ne le voient plus)").uncheck()
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(page.get_by_text("Enregistré.")).to_be_visible()  # the notice of the first save too

    async def retired() -> bool:  # so the catalog is read again until the save has landed
        await buyer.goto(f"/{tenant}/catalog")
        return await buyer.get_by_text("Aucun produit ne correspond.").count() == 1

    await eventually(retired, "the retired product gone from the partner's catalog")


async def test_an_admin_changes_an_organisation_an_account_the_catalogs_names_and_a_price_lists_validity(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"ed-{unique}"
    admin = await api.create_tenant(tenant)
    organisation = await api.organisation(admin, f"C-{unique}")
    partner = await api.invite(admin, f"p-{unique}@shop.test", "partner")
    _, brand = await api.call(
        "POST", "/api/catalog/brands", token=admin, expect=201, json={"name": "Lumiere"}
    )
    _, price_list = await api.call(
        "POST",
        "/api/catalog/price-lists",
        token=admin,
        expect=201,
        json={"name": "2026", "scope": "brand", "brand_id": brand["id"], "currency": "EUR", "prices": []},
    )
    page = await browsing.page()
    await sign_in(page, tenant, f"admin@{tenant}.test")

    await page.goto(f"/{tenant}/admin/organisations/{organisation}")
    await page.get_by_label("Nom", exact=True).fill("Pharmacie de la Gare")
    await page.get_by_role("button", name="Enregistrer").first.click()
    await expect(page.get_by_role("heading", name="Pharmacie de la Gare")).to_be_visible()

    await page.goto(f"/{tenant}/admin/accounts/{partner['account_id']}")
    await page.get_by_label("valideur").check()
    await page.get_by_label("Organisation").select_option(label="Pharmacie de la Gare")
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(page.get_by_text("Enregistré.")).to_be_visible()
    await expect(page.get_by_label("valideur")).to_be_checked()
    _, changed = await api.call(
        "GET", f"/api/identity/accounts/{partner['account_id']}", token=admin, expect=200
    )
    assert sorted(changed["roles"]) == ["partner", "validator"] and changed["organisation_id"] == organisation

    await page.goto(f"/{tenant}/admin/catalog")
    await page.locator(f"#b-{brand['id']}").fill("Lumière")
    await page.get_by_role("button", name="Renommer").first.click()
    await expect(page.locator(f"#b-{brand['id']}")).to_have_value("Lumière")

    await page.goto(f"/{tenant}/admin/price-lists/{price_list['id']}")
    await page.get_by_label("Valable jusqu'au (vide : sans fin)").fill("2026-12-31T23:59")
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(page.get_by_text("Enregistré.")).to_be_visible()
    await expect(page.get_by_label("Valable jusqu'au (vide : sans fin)")).to_have_value("2026-12-31T23:59")
    _, stored = await api.call("GET", f"/api/catalog/price-lists/{price_list['id']}", token=admin, expect=200)
    assert stored["valid_until"].startswith("2026-12-31T23:59")  # the tenant's zone is UTC here


async def test_the_cart_keeps_its_lines_across_sessions_flags_a_retired_one_and_orders_the_rest(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"ct-{unique}"
    admin = await api.create_tenant(tenant)
    cream = await api.create_product(admin, "CREME-01", 1290)
    await api.create_product(admin, "BAUME-03", 890)
    await products_known_to_ordering(api, admin, ["CREME-01", "BAUME-03"])
    partner = f"p-{unique}@shop.test"
    await api.invite(admin, partner, "partner")
    page = await browsing.page()
    await sign_in(page, tenant, partner)

    await page.goto(f"/{tenant}/catalog/{cream['id']}")
    await page.get_by_label("Quantité").fill("2")
    await page.get_by_role("button", name="Ajouter au panier").click()
    await expect(page.get_by_text("Ajouté au panier.")).to_be_visible()
    await page.get_by_label("Lignes").fill("BAUME-03 3\nNOPE-1 1")
    await page.get_by_role("button", name="Ajouter", exact=True).click()
    await expect(page.locator(".problems")).to_contain_text("NOPE-1 1: Code produit inconnu.")
    await expect(page.locator("table.lines tbody tr")).to_have_count(1)  # nothing of that paste added
    await page.get_by_label("Lignes").fill("BAUME-03 3")
    await page.get_by_role("button", name="Ajouter", exact=True).click()
    await expect(page.locator("#cart-total")).to_have_text("52,50\u00a0€")
    await page.get_by_label("Enregistrer le panier comme modèle nommé").fill("Semaine")
    await page.get_by_role("button", name="Enregistrer comme modèle").click()
    await expect(page.get_by_text("Le panier est enregistré comme modèle.")).to_be_visible()

    # Another device, another session: the same cart. A quantity changed, by the keyboard.
    other = await browsing.page()
    await sign_in(other, tenant, partner)
    await other.goto(f"/{tenant}/cart")
    await other.get_by_label("Quantité CREME-01").fill("1")
    await other.get_by_label("Quantité CREME-01").press("Enter")
    await expect(other.get_by_text("Enregistré.")).to_be_visible()
    await expect(other.locator("#cart-total")).to_have_text("39,60\u00a0€")
    assert await serious_violations(other) == []

    # The cream is retired meanwhile: its line stays, unavailable, and is not charged.
    _, product = await api.call("GET", f"/api/catalog/products/{cream['id']}", token=admin, expect=200)
    details = {k: product[k] for k in ("name", "price_minor", "currency", "brand_id", "category_id", "ean")}
    details |= {k: product[k] for k in ("names", "descriptions", "images", "vat_rate_bp")} | {"active": False}
    await api.call("PUT", f"/api/catalog/products/{cream['id']}", token=admin, expect=200, json=details)

    async def cream_unavailable() -> bool:
        await page.goto(f"/{tenant}/cart")
        return "N'est plus en vente." in await page.locator("table.lines").inner_text()

    await eventually(cream_unavailable, "the retired cream shown as unavailable in the cart")
    await expect(page.locator("#cart-total")).to_have_text("26,70\u00a0€")
    await page.get_by_role("link", name="Commander le panier").click()
    await expect(page.get_by_role("heading", name="Validation de la commande")).to_be_visible()
    await page.get_by_role("button", name="Voir le devis").click()
    await expect(page.get_by_role("heading", name="Devis")).to_be_visible()
    await expect(page.locator("#total-excl")).to_have_text("26,70\u00a0€")  # the retired cream left out
    await page.get_by_role("button", name="Confirmer la commande").click()
    await expect(page.get_by_text("Merci : votre commande est transmise.")).to_be_visible()
    await expect(page.locator("tfoot")).to_contain_text("26,70\u00a0€")
    await page.goto(f"/{tenant}/cart")
    await expect(page.locator("table.lines tbody tr")).to_have_count(1)  # the retired line, kept
    await page.get_by_role("button", name="Retirer").click()
    await expect(page.get_by_text("Le panier est vide.")).to_be_visible()
    # The order again, into the cart: the balm priced now.
    await page.goto(f"/{tenant}/orders")
    await page.locator("tbody a").first.click()
    await page.get_by_role("button", name="Commander à nouveau (dans le panier)").click()
    await expect(page.get_by_text("Ajouté au panier.")).to_be_visible()
    await expect(page.locator("#cart-total")).to_have_text("26,70\u00a0€")
    # The template saved at the start: both lines again, the retired cream flagged, the balm added up.
    await page.get_by_role("button", name="Charger dans le panier").click()
    await expect(page.get_by_text("Ajouté au panier.")).to_be_visible()
    await expect(page.locator("#cart-total")).to_have_text("53,40\u00a0€")
    await expect(page.locator("table.lines")).to_contain_text("N'est plus en vente.")
    await page.get_by_role("button", name="Supprimer").click()
    await expect(page.get_by_text("Le modèle a été supprimé.")).to_be_visible()


async def test_checkout_in_two_steps_a_stale_quote_shows_the_new_one_then_the_order_is_cancelled(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"co-{unique}"
    admin = await api.create_tenant(tenant)
    cream = await api.create_product(admin, "CREME-01", 1290)  # 20 % VAT, catalog's default
    await api.create_product(admin, "ECHANT-01", 100)
    await products_known_to_ordering(api, admin, ["CREME-01", "ECHANT-01"])

    # The admin sets checkout up in the back office: a fee, terms of sale, a pick-up point.
    office = await browsing.page()
    await sign_in(office, tenant, f"admin@{tenant}.test")
    await office.goto(f"/{tenant}/admin/checkout")
    await office.get_by_label("Frais de livraison HT").fill("6,90")
    await office.get_by_label("Livraison offerte à partir de (marchandises HT ; vide : jamais)").fill("100")
    await office.get_by_label("Paiement au centre").check()
    await office.get_by_label("Version des conditions générales de vente à accepter (vide : aucune)").fill(
        "2026-01"
    )
    await office.get_by_role("button", name="Enregistrer", exact=True).click()
    await expect(office.get_by_text("Enregistré.")).to_be_visible()
    await office.get_by_label("Nom du point de retrait").fill("Centre Part-Dieu")
    await office.get_by_label("Destinataire").fill("Centre Part-Dieu")
    await office.get_by_label("Numéro et rue").fill("5 place Charles Béraudier")
    await office.get_by_label("Code postal").fill("69003")
    await office.get_by_label("Ville").fill("Lyon")
    await office.get_by_role("button", name="Ajouter le point de retrait").click()
    await expect(office.locator("ul.editable")).to_contain_text("Centre Part-Dieu")

    partner = f"p-{unique}@shop.test"
    await api.invite(admin, partner, "partner")
    token = await api.login(tenant, partner)
    page = await at_checkout(api, browsing, tenant, partner, token, [{"code": "CREME-01", "quantity": 2}])
    await expect(page.get_by_role("heading", name="Validation de la commande")).to_be_visible()
    await page.get_by_label("Votre référence (facultatif)").fill("BC-2026-7")
    await page.get_by_label("Une autre adresse, pour cette commande").check()
    await page.get_by_label("Destinataire").fill("Pharmacie du Marché")
    await page.get_by_label("Numéro et rue").fill("2 place du Marché")
    await page.get_by_label("Code postal").fill("69002")
    await page.get_by_label("Ville").fill("Lyon")
    await page.get_by_label("Conserver cette adresse : demander son ajout au carnet d'adresses").check()
    await page.get_by_label("Paiement au centre").check()
    await page.get_by_role("button", name="Voir le devis").click()
    await expect(page.get_by_role("heading", name="Devis")).to_be_visible()
    await expect(page.locator("#delivery-fee")).to_have_text("6,90\u00a0€")
    await expect(page.locator("#total-incl")).to_have_text("39,24\u00a0€")  # (25,80 + 6,90) * 1,2
    assert await serious_violations(page) == []

    # The price changes before she confirms: the quote she has is stale.
    _, product = await api.call("GET", f"/api/catalog/products/{cream['id']}", token=admin, expect=200)
    details = {k: product[k] for k in ("name", "currency", "brand_id", "category_id", "ean", "active")}
    details |= {k: product[k] for k in ("names", "descriptions", "images", "vat_rate_bp")} | {
        "price_minor": 1490
    }
    await api.call("PUT", f"/api/catalog/products/{cream['id']}", token=admin, expect=200, json=details)

    async def new_price_known() -> bool:
        body = {"lines": [{"code": "CREME-01", "quantity": 1}]}
        _, quote = await api.call("POST", "/api/ordering/checkout/quotes", token=token, expect=201, json=body)
        return bool(quote["lines"][0]["unit_price_minor"] == 1490)

    await eventually(new_price_known, "the new price in ordering's read model")
    await page.get_by_label("J'accepte les conditions générales de vente (version 2026-01)").check()
    await page.get_by_role("button", name="Confirmer la commande").click()
    await expect(page.get_by_text("Les prix ont changé depuis votre devis")).to_be_visible()
    await expect(page.locator("#total-incl")).to_have_text("44,04\u00a0€")  # (29,80 + 6,90) * 1,2
    await page.get_by_label("J'accepte les conditions générales de vente (version 2026-01)").check()
    await page.get_by_role("button", name="Confirmer la commande").click()
    await expect(page.get_by_text("Merci : votre commande est transmise.")).to_be_visible()
    await expect(page.locator("#order-status")).to_have_text("Confirmée")
    await expect(page.get_by_text("BC-2026-7", exact=True)).to_be_visible()

    await page.get_by_role("button", name="Annuler la commande").click()
    await expect(page.get_by_text("La commande est annulée.")).to_be_visible()
    await expect(page.locator("#order-status")).to_have_text("Annulée")
    await expect(page.locator("ol.history li")).to_have_count(2)

    # The address she asked to keep waits for the admin, who adds it to her book.
    await office.goto(f"/{tenant}/admin/checkout")
    await office.get_by_role("button", name="Ajouter au carnet d'adresses").click()
    await expect(office.get_by_text("Aucune adresse en attente.")).to_be_visible()
    await page.goto(f"/{tenant}/addresses")
    await expect(page.get_by_text("2 place du Marché")).to_be_visible()


async def test_an_order_waits_for_the_validator_who_modifies_and_approves_it_then_refuses_another(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"ap-{unique}"
    admin = await api.create_tenant(tenant)
    organisation = await api.organisation(admin, "PHARMA-1")
    await api.create_product(admin, "CREME-01", 1290)
    await products_known_to_ordering(api, admin, ["CREME-01"])
    partner, validator = f"p-{unique}@pharma.test", f"v-{unique}@pharma.test"
    await api.invite(admin, partner, "partner", organisation)
    await api.invite(admin, validator, "validator", organisation)

    # The admin: every order of the organisation waits for its validator.
    office = await browsing.page()
    await sign_in(office, tenant, f"admin@{tenant}.test")

    async def policy_set() -> bool:
        await office.goto(f"/{tenant}/admin/organisations/{organisation}")
        await office.get_by_label(re.compile("^Les commandes au-delà de ce montant")).fill("0")
        await office.locator("form[action$='/approval'] button").click()
        try:  # refused (404) until ordering has heard of the organisation from identity
            await expect(office.get_by_text("Enregistré.")).to_be_visible(timeout=2_000)
        except AssertionError:
            return False
        return True

    await eventually(policy_set, "the organisation known to ordering and its policy set")

    page = await browsing.page()
    await sign_in(page, tenant, partner)
    await page.goto(f"/{tenant}/quick-order")
    await page.get_by_label("Lignes").fill("CREME-01 3")
    await page.get_by_role("button", name="Transmettre la commande").click()
    await expect(page.locator("#order-status")).to_have_text("En attente de validation")
    order_url = page.url

    def subjects(address: str) -> list[str]:
        return [mail_subject(mail) for mail in api.mails_to(address)]

    async def asked() -> bool:
        return any("à valider" in s for s in subjects(validator)) and any(
            "attend sa validation" in s for s in subjects(partner)
        )

    await eventually(asked, "the validator asked and the partner told the order waits")

    checker = await browsing.page()
    await sign_in(checker, tenant, validator)
    await checker.get_by_role("link", name="À valider").click()
    await expect(checker.get_by_role("heading", name="À valider")).to_be_visible()
    await checker.locator("tbody a").first.click()
    await checker.get_by_label("Quantité CREME-01").fill("2")
    await checker.get_by_role("button", name="Modifier et valider").click()
    await expect(checker.get_by_text("La commande est validée.")).to_be_visible()
    await expect(checker.locator("#order-status")).to_have_text("Confirmée")
    await expect(checker.locator("#total-excl")).to_have_text("25,80\u00a0€")

    async def approved_mail() -> bool:
        return any("est validée" in s for s in subjects(partner))

    await eventually(approved_mail, "the partner told her order is approved")
    await page.goto(order_url)
    await expect(page.locator("ol.history li")).to_have_count(3)  # held, modified, approved

    # Another order, refused: a refusal needs its reason.
    await page.goto(f"/{tenant}/quick-order")
    await page.get_by_label("Lignes").fill("CREME-01 1")
    await page.get_by_role("button", name="Transmettre la commande").click()
    await expect(page.locator("#order-status")).to_have_text("En attente de validation")
    await checker.goto(page.url)
    await checker.get_by_role("button", name="Refuser").click()
    await expect(checker.locator("#e-reason")).to_have_text("Dites pourquoi la commande est refusée.")
    await checker.get_by_label("Motif d'un refus").fill("Budget du mois dépassé")
    await checker.get_by_role("button", name="Refuser").click()
    await expect(checker.get_by_text("La commande est refusée.")).to_be_visible()

    async def refused_mail() -> str | None:
        texts = [mail_text(m) for m in api.mails_to(partner) if "est refusée" in mail_subject(m)]
        return texts[0] if texts else None

    assert "Motif : Budget du mois dépassé" in await eventually(refused_mail, "the refusal's email")

    # The organisation's statistics: the approved order counts, the refused one does not.
    await checker.get_by_role("link", name="Statistiques").click()
    await expect(checker.get_by_role("heading", name="Statistiques")).to_be_visible()
    await expect(checker.locator("table tbody tr")).to_have_count(1)
    await expect(checker.locator("table tbody tr")).to_contain_text("CREME-01")
    await expect(checker.locator("table tbody tr")).to_contain_text("25,80\u00a0€")
    await expect(checker.locator("svg.chart")).to_be_visible()
    async with checker.expect_download() as downloading:
        await checker.get_by_role("link", name="Télécharger en CSV").click()
    saved = await (await downloading.value).path()
    assert "CREME-01" in saved.read_text()


async def test_the_admin_creates_an_api_client_sees_its_secret_once_and_sets_the_seller_discount(
    api: Api, browsing: Browsing, unique: str
) -> None:
    tenant = f"ac-{unique}"
    await api.create_tenant(tenant)
    office = await browsing.page()
    await sign_in(office, tenant, f"admin@{tenant}.test")
    await office.goto(f"/{tenant}/admin/api-clients")
    await office.get_by_label("Nom du système (par ex. ERP)").fill("ERP Sage")
    await office.get_by_role("button", name="Créer un client").click()
    await expect(office.get_by_text("Copiez le secret maintenant")).to_be_visible()
    client_id = (await office.locator("#client-id").inner_text()).strip()
    secret = (await office.locator("#client-secret").inner_text()).strip()
    credentials = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    await api.call("POST", "/api/identity/oauth/token", expect=200, json=credentials)  # the secret works
    await office.goto(f"/{tenant}/admin/api-clients")
    await expect(office.get_by_text("Copiez le secret maintenant")).to_have_count(0)  # shown once
    await office.get_by_role("button", name="Révoquer").click()
    await expect(office.locator("table tbody tr")).to_contain_text("Révoqué")
    assert (await api.call("POST", "/api/identity/oauth/token", json=credentials))[0] == 401

    await office.goto(f"/{tenant}/admin/checkout")
    await office.get_by_label(re.compile("^Ce que les commandes d'une vendeuse")).fill("20")
    await office.get_by_role("button", name="Enregistrer la remise vendeuse").click()
    await expect(office.get_by_text("Enregistré.")).to_be_visible()
    admin = await api.login(tenant, f"admin@{tenant}.test")
    _, settings = await api.call("GET", "/api/catalog/settings", token=admin, expect=200)
    assert settings["seller_discount_bp"] == 2000
