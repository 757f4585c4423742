"""Screenshots of the portal's main screens for the README: `make screenshots` while `make run`
runs (its demo data), into docs/portal/. Not part of `make test`: the pictures are committed.

Debian's Chromium through Playwright, as the browser tests use it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from playwright.async_api import Page, async_playwright

from demo.seed import ADMIN, PARTNER, TENANT
from tests.e2e.browser import launch

OUT = Path(__file__).resolve().parents[1] / "docs" / "portal"
GATEWAY = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080")


async def sign_in(page: Page, login: str, password: str) -> None:
    await page.goto(f"/{TENANT}/sign-in")
    await page.fill("#f-login", login)
    await page.fill("#f-password", password)
    await submit(page, "form[action$='/sign-in'] button[type=submit]")


async def submit(page: Page, button: str) -> None:
    async with page.expect_navigation():
        await page.click(button)


async def shoot(page: Page, name: str, path: str | None = None) -> None:
    if path is not None:
        await page.goto(f"/{TENANT}/{path}")
    await page.screenshot(path=OUT / f"{name}.png")
    print(f"docs/portal/{name}.png", flush=True)


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        desk = {"base_url": GATEWAY, "locale": "fr-FR", "viewport": {"width": 1100, "height": 720}}

        partner = await (await browser.new_context(**desk)).new_page()
        await shoot(partner, "01-sign-in", "sign-in")
        await sign_in(partner, *PARTNER)
        await shoot(partner, "02-catalog", "catalog")
        await submit(partner, "text=Crème hydratante 50 ml")
        await shoot(partner, "03-product")
        await partner.goto(f"/{TENANT}/quick-order")
        await partner.fill("#f-lines", "CREME-01 2\nNOPE-99 1\nBAUME-03 1")
        await submit(partner, "form[action$='/quick-order'] button[type=submit]")
        await shoot(partner, "04-quick-order-with-a-bad-line")
        await partner.fill("#f-lines", "CREME-01 2\nBAUME-03 1")
        await submit(partner, "form[action$='/quick-order'] button[type=submit]")
        await shoot(partner, "05-order")
        await asyncio.sleep(2)  # the order's points travel as an event
        await shoot(partner, "06-points", "points")
        await shoot(partner, "07-documents", "documents")
        await shoot(partner, "08-profile", "profile")
        await partner.goto(f"/{TENANT}/cart")
        await partner.fill("#f-lines", "CREME-01 2\nBAUME-03 1")
        await submit(partner, "form[action$='/cart/add'] button[type=submit]")
        await shoot(partner, "15-checkout", "checkout")
        await submit(partner, "form[action$='/checkout'] button[type=submit]")
        await shoot(partner, "16-quote")
        await partner.goto(f"/{TENANT}/balance")
        await partner.fill("#f-amount", "50")
        await submit(partner, "form[action$='/balance/top-up'] button[type=submit]")
        await submit(partner, "button[type=submit]")  # the fake provider's page: its test card pays
        await shoot(partner, "18-balance-topped-up")

        admin = await (await browser.new_context(**desk)).new_page()
        await sign_in(admin, *ADMIN)
        await shoot(admin, "09-back-office", "admin")
        await shoot(admin, "10-organisations", "admin/organisations")
        await shoot(admin, "11-settings", "admin/settings")
        await shoot(admin, "12-price-lists", "admin/price-lists")
        await shoot(admin, "13-message-log", "admin/messages")
        await shoot(admin, "17-checkout-and-delivery", "admin/checkout")

        small = {"base_url": GATEWAY, "locale": "ru-RU", "viewport": {"width": 390, "height": 760}}
        phone = await (await browser.new_context(**small)).new_page()
        await sign_in(phone, *PARTNER)
        await phone.goto(f"/{TENANT}/language/ru?next=/{TENANT}/catalog")
        await shoot(phone, "14-phone-russian-catalog")
        await browser.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as exc:  # one line for a person at a terminal, not a traceback
        sys.exit(f"screenshots: {exc!r} (is `make run` running on {GATEWAY}?)")
