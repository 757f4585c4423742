"""The whole platform as separate processes on the test stack, driven through the gateway."""

from __future__ import annotations

import asyncio
import email.header
import email.message
import io
import json
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from libs.common.db import drop_service
from libs.devstack import testing
from libs.devstack.devrun import Platform, free_platform_ports, runnable_services
from libs.devstack.stack import LocalStack
from tests.e2e.browser import keep_evidence, launch

T = TypeVar("T")
PASSWORD = "Correct-Horse-9"
PHONE = {"width": 390, "height": 844}
RECOVERY_CODE_TTL_S = 15
# Every request of the tests (and of the bench) comes from 127.0.0.1, one client address: the
# gateway's and identity's limits per address would refuse most of them.
RAISED_GATEWAY_LIMIT = {"RATE_LIMIT_BURST": "100000", "RATE_LIMIT_PER_S": "1"}
RAISED_IDENTITY_LIMITS = {"burst": 100_000, "per_s": 1}
_IDENTITY_LIMIT_SETTINGS = ("SIGN_IN_LIMIT", "REGISTRATION_LIMIT", "MESSAGE_LIMIT", "CODE_LIMIT")


def raised_limits(who: str) -> dict[str, str]:
    """The environment that raises the limits per client address, said once on stderr."""
    print(
        f"{who}: limits per client address raised to {RAISED_GATEWAY_LIMIT['RATE_LIMIT_BURST']} requests"
        f" per {RAISED_GATEWAY_LIMIT['RATE_LIMIT_PER_S']} s at the gateway and to {RAISED_IDENTITY_LIMITS}"
        f" for identity's {', '.join(name.lower() for name in _IDENTITY_LIMIT_SETTINGS)}",
        file=sys.stderr,
    )
    identity = {name: json.dumps(RAISED_IDENTITY_LIMITS) for name in _IDENTITY_LIMIT_SETTINGS}
    return RAISED_GATEWAY_LIMIT | identity


@pytest_asyncio.fixture(loop_scope="package", scope="package")
async def platform(stack: LocalStack) -> AsyncIterator[Platform]:
    """Identity, catalog, ordering, loyalty, notify, the portal and the gateway, each its own OS
    process, shared by every end-to-end test (each works in tenants of its own): starting them
    costs about 10 s."""
    namespace = f"e2e_{uuid.uuid4().hex[:8]}"
    services = runnable_services()
    log = io.StringIO()
    running = Platform(
        stack,
        services,
        ports=free_platform_ports(services),
        namespace=namespace,
        log=log,
        extra_env={
            "CONSUMER_RETRY_BACKOFF_S": "0.05",
            # The local broker holds a group's join for half of it (see TEST_SESSION_TIMEOUT_MS).
            "CONSUMER_SESSION_TIMEOUT_MS": str(testing.TEST_SESSION_TIMEOUT_MS),
            "OUTBOX_POLL_INTERVAL_S": "0.2",
            "ACTIVATION_RESEND_INTERVAL_S": "1",
            # Short enough for a test to see a recovery code expire, long enough to use one.
            "RECOVERY_CODE_TTL_MINUTES": str(RECOVERY_CODE_TTL_S / 60),
            **raised_limits("e2e test platform"),
        },
    )
    await running.start()
    try:
        await running.wait_ready()
    except BaseException:
        await running.stop()
        print(log.getvalue()[-20000:])
        raise
    yield running
    await running.stop()
    if any(word in log.getvalue() for word in ("Traceback", "dead-lettered")):
        print(log.getvalue()[-20000:])
    for name in services:
        if name != "gateway":
            await drop_service(stack.database_url, role=running.schema(name), schema=running.schema(name))


async def eventually(check: Callable[[], Awaitable[T | None]], what: str, timeout: float = 30) -> T:
    """Poll until `check` returns something truthy (events travel asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


@dataclass
class Api:
    """A client of the gateway, as a frontend would use it."""

    http: aiohttp.ClientSession
    base: str
    stack: LocalStack
    platform_key: str

    async def call(
        self, method: str, path: str, *, token: str | None = None, expect: int | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, self.base + path, headers=headers, **kwargs) as resp:
            body = await resp.json() if resp.content_type.endswith("json") else await resp.text()
            if expect is not None:
                assert resp.status == expect, f"{method} {path} → {resp.status}: {body}"
            return resp.status, body

    def mails_to(self, address: str) -> list[email.message.Message]:
        assert self.stack.smtp is not None
        return [m for m in self.stack.smtp.messages() if address in str(m["To"])]

    async def create_tenant(self, tenant_id: str) -> str:
        """A tenant with its admin; returns the admin's token."""
        admin = f"admin@{tenant_id}.test"
        await self.call(
            "POST",
            "/api/identity/tenants",
            expect=201,
            headers={"X-Platform-Key": self.platform_key},
            json={
                "tenant_id": tenant_id,
                "name": tenant_id.title(),
                "admin": {"email": admin, "password": PASSWORD, "display_name": "Admin", "locale": "fr"},
            },
        )
        return await self.login(tenant_id, admin)

    async def organisation(self, admin: str, code: str) -> str:
        """A new organisation of the admin's tenant, named and coded `code`, once catalog has heard
        of it from identity (it gives terms only to organisations it knows); its id."""
        _, body = await self.call(
            "POST",
            "/api/identity/organisations",
            token=admin,
            expect=201,
            json={"name": code, "customer_code": code},
        )
        organisation_id = str(body["organisation_id"])
        terms = f"/api/catalog/organisations/{organisation_id}/terms"

        async def known_to_catalog() -> bool:
            status, problem = await self.call("GET", terms, token=admin)
            assert status in (200, 404), (status, problem)
            return status == 200

        await eventually(known_to_catalog, "catalog to hear of the new organisation")
        return organisation_id

    async def invite(
        self, admin: str, email: str, role: str, organisation_id: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """An account of `role` created by the admin with an initial password (it may log in at
        once unless the tenant forces a change); the created account."""
        body = {"display_name": role.title()} | fields
        body |= {"email": email, "roles": [role], "organisation_id": organisation_id}
        _, account = await self.call(
            "POST",
            "/api/identity/accounts/invitations",
            token=admin,
            expect=201,
            json=body | {"initial_password": PASSWORD},
        )
        return dict(account)

    async def client_token(self, admin: str, name: str = "ERP") -> str:
        """The token of a new API client of the admin's tenant (the integration role)."""
        return (await self.api_client(admin, name))[1]

    async def api_client(self, admin: str, name: str) -> tuple[dict[str, Any], str]:
        """A new API client of the admin's tenant, and a token it got with its credentials."""
        _, client = await self.call(
            "POST", "/api/identity/api-clients", token=admin, expect=201, json={"name": name}
        )
        credentials = {"client_id": client["client_id"], "client_secret": client["client_secret"]}
        _, token = await self.call(
            "POST",
            "/api/identity/oauth/token",
            expect=200,
            json={"grant_type": "client_credentials", **credentials},
        )
        return dict(client), str(token["access_token"])

    async def login(self, tenant_id: str, address: str) -> str:
        _, body = await self.call(
            "POST",
            "/api/identity/sessions",
            expect=200,
            json={"tenant_id": tenant_id, "email": address, "password": PASSWORD},
        )
        return str(body["access_token"])

    async def register_and_activate(self, tenant_id: str, address: str) -> tuple[str, str]:
        """A partner registers, clicks the link of her activation email, logs in: (account id, token)."""
        _, account = await self.call(
            "POST",
            "/api/identity/accounts",
            expect=201,
            json={
                "tenant_id": tenant_id,
                "email": address,
                "password": PASSWORD,
                "display_name": "Claire",
                "locale": "fr",
            },
        )

        async def activation_link() -> str | None:
            for mail in self.mails_to(address):
                found = re.search(r"https?://\S+/activations/([\w-]+)", _text(mail))
                if found:  # the link opens the portal's page; the API activates with its token
                    return f"{self.base}/api/identity/activations/{found.group(1)}"
            return None

        link = await eventually(activation_link, f"the activation email to {address}")
        async with self.http.get(link) as resp:
            assert resp.status == 200, await resp.text()
        return str(account["account_id"]), await self.login(tenant_id, address)

    async def create_product(self, admin: str, code: str, price_minor: int) -> dict[str, Any]:
        _, product = await self.call(
            "POST",
            "/api/catalog/products",
            token=admin,
            expect=201,
            json={"code": code, "name": f"Crème {code}", "price_minor": price_minor, "currency": "EUR"},
        )
        return dict(product)

    async def order(self, token: str, lines: list[dict[str, Any]], key: str | None = None) -> dict[str, Any]:
        """Submit an order, waiting until ordering's read model knows the products."""
        headers = {"Idempotency-Key": key} if key else {}

        async def submit() -> dict[str, Any] | None:
            status, body = await self.call(
                "POST", "/api/ordering/orders", token=token, headers=headers, json={"lines": lines}
            )
            if status == 422 and "code" in str(body):
                return None  # the product has not reached ordering yet
            assert status == 201, body
            return dict(body)

        return await eventually(submit, "the order to be accepted")


def _text(mail: email.message.Message) -> str:
    if mail.is_multipart():
        return "\n".join(_text(part) for part in mail.get_payload())  # type: ignore[union-attr]
    payload = mail.get_payload(decode=True)
    return payload.decode(errors="replace") if isinstance(payload, bytes) else str(payload)


@pytest_asyncio.fixture(loop_scope="package")
async def api(platform: Platform) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(http, platform.gateway_url, platform.stack, platform.platform_key)


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


mail_text = _text


@dataclass
class Merchant:
    """A merchant's tenant with one shop, its staff account, a 1-point-per-euro counter rule and a
    customer with a card that loyalty knows; tokens of the three."""

    tenant: str
    admin: str
    staff_email: str
    staff: str
    card: str
    customer_email: str
    customer: str

    async def visit(self, api: Api, amount_minor: int) -> tuple[int, Any]:
        """A purchase of that amount recorded at the shop's counter."""
        body = {"kind": "purchase", "amount_minor": amount_minor}
        return await api.call("POST", f"/api/loyalty/cards/{self.card}/visits", token=self.staff, json=body)


async def merchant(api: Api, unique: str, prefix: str) -> Merchant:
    tenant = f"{prefix}-{unique}"
    admin = await api.create_tenant(tenant)
    _, shop = await api.call(
        "POST", "/api/identity/organisations", token=admin, expect=201, json={"name": "Gare", "kind": "shop"}
    )
    staff = f"caisse-{unique}@gare.test"
    await api.invite(admin, staff, "shop", shop["organisation_id"])
    rule = {"name": "1 point par euro", "earns": "per_amount", "points": 1}
    await api.call("POST", "/api/loyalty/counter/rules", token=admin, expect=201, json=rule)
    card, customer = f"{prefix}{unique}".upper(), f"eve-{unique}@example.test"
    await api.invite(admin, customer, "customer", card_number=card)
    found = Merchant(
        tenant,
        admin,
        staff,
        await api.login(tenant, staff),
        card,
        customer,
        await api.login(tenant, customer),
    )

    async def known() -> bool:
        status, _ = await api.call("GET", f"/api/loyalty/cards/{card}", token=found.staff)
        return status == 200

    await eventually(known, "the customer's card known at the counter")
    return found


def mail_subject(mail: email.message.Message) -> str:
    """The decoded Subject header (encoded words when it is not ASCII)."""
    return str(email.header.make_header(email.header.decode_header(mail["Subject"])))


async def rows_holding(platform: Platform, values: list[str]) -> list[str]:
    """Where any of these values still is, in every table of every service's schema."""
    schemas = [platform.schema(name) for name in platform.services if name != "gateway"]
    conn = await asyncpg.connect(platform.stack.database_url)
    try:
        found = await testing.rows_holding(conn, values, schemas)
    finally:
        await conn.close()
    return [f"{schema}.{table}: {value!r}" for schema, table, value in found]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Each phase's report on the test item (`item.report_call`), for fixtures that keep evidence of
    a failure (the browser tests' screenshot and page)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


# --- the portal in a real browser ---


@pytest_asyncio.fixture(loop_scope="package", scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One Chromium for all the browser tests; each test has its own context (cookies, storage)."""
    async with async_playwright() as playwright:
        chromium = await launch(playwright)
        yield chromium
        await chromium.close()


class Browsing:
    """Opens a fresh browser context per person; keeps each page's evidence if the test fails."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser, self.base_url = browser, base_url
        self.pages: list[Page] = []

    async def page(self, locale: str = "fr-FR", *, phone: bool = False) -> Page:
        """A page of a new person; `phone`: on a phone screen (390 by 844, touch)."""
        screen: dict[str, Any] = {"viewport": PHONE, "has_touch": True, "is_mobile": True} if phone else {}
        context = await self.browser.new_context(base_url=self.base_url, locale=locale, **screen)
        context.set_default_timeout(15_000)
        page = await context.new_page()
        self.pages.append(page)
        return page


@pytest_asyncio.fixture(loop_scope="package")
async def browsing(
    browser: Browser, platform: Platform, request: pytest.FixtureRequest
) -> AsyncIterator[Browsing]:
    opened = Browsing(browser, platform.gateway_url)
    yield opened
    report = getattr(request.node, "report_call", None)
    for number, page in enumerate(opened.pages):
        if report is not None and report.failed:
            print(f"evidence: {await keep_evidence(page, f'{request.node.name}-{number}')}")
        await page.context.close()


async def sign_in(page: Page, tenant: str, login: str, password: str = PASSWORD) -> None:
    await page.goto(f"/{tenant}/sign-in")
    await page.get_by_label("Identifiant").fill(login)
    await page.get_by_label("Mot de passe").fill(password)
    await page.get_by_role("button", name="Se connecter").click()


async def at_checkout(
    api: Api, browsing: Browsing, tenant: str, login: str, token: str, lines: list[dict[str, Any]]
) -> Page:
    """The buyer's checkout page in a browser, signed in, her cart holding `lines` (put there through
    the API): the start of every browser test of a checkout."""
    await api.call("POST", "/api/ordering/cart/lines", token=token, expect=200, json={"lines": lines})
    page = await browsing.page()
    await sign_in(page, tenant, login)
    await page.goto(f"/{tenant}/cart")
    await page.get_by_role("link", name="Commander le panier").click()
    return page


async def order_settles(page: Page, status: str, what: str) -> None:
    """On an order page just submitted (pending while loyalty checks what pays it), reload until the
    order shows `status`. Waits for the submission's own navigation first: reloading during it races."""
    await expect(page.locator("#order-status")).to_be_visible()

    async def settled() -> bool:
        await page.reload()
        return await page.locator("#order-status").text_content() == status

    await eventually(settled, what)
