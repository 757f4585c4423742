"""Demo data for `make run`: a tenant, its admin, a pharmacy with a partner user, a few products.

Talks to the gateway only, like any frontend; safe to run again (what exists is kept).
"""

from __future__ import annotations

import asyncio
import mailbox
import os
import re
import sys
from pathlib import Path
from typing import Any

import aiohttp

TENANT = "demo"
ADMIN = ("admin@demo.comptoir.test", "Demo-Admin-2026")
PARTNER = ("claire@pharmacie-du-marche.test", "Demo-Partner-2026")
PRODUCTS = [
    ("CREME-01", "Crème hydratante 50 ml", 1290),
    ("SERUM-02", "Sérum éclat 30 ml", 2450),
    ("BAUME-03", "Baume lèvres", 890),
]
BRAND = "Laboratoire Demo"
# The catalog's tree, each category named in the three languages, and where each product sits.
CATEGORIES = {
    "care": ({"fr": "Soins", "en": "Care", "ru": "Уход"}, None),
    "face": ({"fr": "Visage", "en": "Face", "ru": "Лицо"}, "care"),
    "lips": ({"fr": "Lèvres", "en": "Lips", "ru": "Губы"}, "care"),
}
PLACES = {"CREME-01": "face", "SERUM-02": "face", "BAUME-03": "lips"}
NAMES = {
    "CREME-01": {"en": "Moisturising cream 50 ml", "ru": "Увлажняющий крем 50 мл"},
    "SERUM-02": {"en": "Radiance serum 30 ml", "ru": "Сыворотка для сияния 30 мл"},
    "BAUME-03": {"en": "Lip balm", "ru": "Бальзам для губ"},
}


class Seeder:
    def __init__(self, http: aiohttp.ClientSession, gateway: str, maildir: Path, platform_key: str) -> None:
        self.http, self.gateway, self.maildir = http, gateway, maildir
        self.platform_key = platform_key

    async def call(self, method: str, path: str, ok: tuple[int, ...], **kwargs: Any) -> tuple[int, Any]:
        async with self.http.request(method, self.gateway + path, **kwargs) as resp:
            body = await resp.json(content_type=None)
            if resp.status not in ok:
                raise RuntimeError(f"{method} {path} → {resp.status} {body}")
            return resp.status, body

    async def token(self, email: str, password: str) -> str:
        _, body = await self.call(
            "POST",
            "/api/identity/sessions",
            (200,),
            json={"tenant_id": TENANT, "email": email, "password": password},
        )
        return str(body["access_token"])

    def activation_link(self, address: str) -> str | None:
        for message in mailbox.Maildir(str(self.maildir), create=True):
            if address in str(message["To"]):
                payload = message.get_payload(decode=True)
                text = payload.decode(errors="replace") if isinstance(payload, bytes) else str(message)
                found = re.search(r"https?://\S+/activations/([\w-]+)", text)
                if found:  # the portal's page; the API activates with the link's token
                    return f"{self.gateway}/api/identity/activations/{found.group(1)}"
        return None

    async def run(self) -> None:
        await self.call(
            "POST",
            "/api/identity/tenants",
            (201, 409),
            headers={"X-Platform-Key": self.platform_key},
            json={
                "tenant_id": TENANT,
                "name": "Demo Cosmetics",
                "admin": {"email": ADMIN[0], "password": ADMIN[1], "display_name": "Gérante", "locale": "fr"},
            },
        )
        admin = {"Authorization": f"Bearer {await self.token(*ADMIN)}"}
        await self.call(
            "POST",
            "/api/identity/organisations",
            (201, 409),
            headers=admin,
            json={"name": "Pharmacie du Marché", "customer_code": "C-1001"},
        )
        await self.checkout(admin)
        brand, categories = await self.catalog_tree(admin)
        for code, name, price in PRODUCTS:
            await self.call(
                "POST",
                "/api/catalog/products",
                (201, 409),
                headers=admin,
                json={
                    "code": code,
                    "name": name,
                    "names": {"fr": name, **NAMES[code]},
                    "price_minor": price,
                    "currency": "EUR",
                    "brand_id": brand,
                    "category_id": categories.get(PLACES[code]),
                    "vat_rate_bp": 2000,
                },
            )
        await self.call(
            "POST",
            "/api/identity/accounts",
            (201, 409),
            json={
                "tenant_id": TENANT,
                "email": PARTNER[0],
                "password": PARTNER[1],
                "display_name": "Claire Martin",
                "locale": "fr",
                "customer_code": "C-1001",  # the code on her pharmacy's invoices: she joins its organisation
            },
        )
        for _ in range(100):  # the activation email takes a moment to arrive
            status, _ = await self.call(
                "POST",
                "/api/identity/sessions",
                (200, 403),
                json={"tenant_id": TENANT, "email": PARTNER[0], "password": PARTNER[1]},
            )
            if status == 200:
                break
            link = self.activation_link(PARTNER[0])
            if link:
                async with self.http.get(link) as resp:
                    resp.raise_for_status()
            await asyncio.sleep(0.2)
        else:
            raise RuntimeError("the partner account could not be activated")

    async def checkout(self, admin: dict[str, str]) -> None:
        """A delivery fee, free from 100 €, every payment mode (the balance and instalments through the
        fake payment provider), cancellation costs of 5 € and a pick-up point."""
        settings = {
            "delivery_fee_minor": 690,
            "free_delivery_from_minor": 10_000,
            "payment_modes": ["cash_on_delivery", "pay_at_centre", "account_balance", "instalments"],
            "cancellation_costs_minor": 500,
        }
        await self.call("PUT", "/api/ordering/checkout/settings", (200,), headers=admin, json=settings)
        _, points = await self.call("GET", "/api/ordering/pickup-points", (200,), headers=admin)
        if not points:
            address = {
                "recipient": "Centre Part-Dieu",
                "line1": "5 place Charles Béraudier",
                "postal_code": "69003",
                "city": "Lyon",
            }
            point = {"name": "Centre Part-Dieu", "address": address}
            await self.call("POST", "/api/ordering/pickup-points", (201,), headers=admin, json=point)

    async def catalog_tree(self, admin: dict[str, str]) -> tuple[str | None, dict[str, str]]:
        """The demo brand and categories (made once: a second run finds them)."""
        catalog = "/api/catalog"
        _, brands = await self.call("GET", f"{catalog}/brands", (200,), headers=admin)
        brand = next((b["id"] for b in brands if b["name"] == BRAND), None)
        if brand is None:
            _, made = await self.call(
                "POST", f"{catalog}/brands", (201,), headers=admin, json={"name": BRAND}
            )
            brand = made["id"]
        _, existing = await self.call("GET", f"{catalog}/categories", (200,), headers=admin)
        ids = {
            key: c["id"] for key, (names, _) in CATEGORIES.items() for c in existing if c["names"] == names
        }
        for key, (names, parent) in CATEGORIES.items():
            if key not in ids:
                body = {"names": names, "parent_id": ids.get(parent) if parent else None}
                _, made = await self.call("POST", f"{catalog}/categories", (201,), headers=admin, json=body)
                ids[key] = made["id"]
        return brand, ids


async def main(gateway: str, maildir: Path, platform_key: str) -> None:
    async with aiohttp.ClientSession() as http:
        await Seeder(http, gateway, maildir, platform_key).run()
    lines = [
        "",
        f"Demo data ready on {gateway} (tenant '{TENANT}'):",
        f"  admin    {ADMIN[0]} / {ADMIN[1]}",
        f"  partner  {PARTNER[0]} / {PARTNER[1]}  (Pharmacie du Marché, customer code C-1001)",
        "  products " + ", ".join(f"{code} ({price / 100:.2f} EUR)" for code, _, price in PRODUCTS),
        f"  portal   {gateway}/{TENANT}/ (sign in as either)",
        f"  emails   {maildir}/new",
        f"  SMS      {os.environ.get('COMPTOIR_SMS_DIR', '.data/sms')}",
        "",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    if not os.environ.get("PLATFORM_KEY"):
        sys.exit("demo seed: set PLATFORM_KEY to identity's platform key (`make run` prints it)")
    try:
        asyncio.run(
            main(
                os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080"),
                Path(os.environ.get("COMPTOIR_MAILDIR", ".data/mail")).absolute(),
                os.environ["PLATFORM_KEY"],
            )
        )
    except (RuntimeError, aiohttp.ClientError) as exc:
        print(f"demo seed failed: {exc}", file=sys.stderr)
        sys.exit(1)
