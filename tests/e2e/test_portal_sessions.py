"""The portal's sessions and access, over HTTP through the gateway: tokens stay server-side behind an
opaque cookie, one refresh at a time per session, sign-out ends the tokens everywhere, every
state-changing request needs its CSRF token, and every page answers each kind of visitor as it should
(the portal's counterpart of the API's access matrix)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest
import pytest_asyncio

from libs.devstack.devrun import Platform
from services.portal.app import AREAS
from tests.e2e.conftest import PASSWORD, Api, eventually, rows_holding

pytestmark = [pytest.mark.asyncio(loop_scope="package")]
CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]+)"')


class Visitor:
    """A browser without a browser: its own cookie jar, following no redirect by itself."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base

    async def get(self, path: str) -> tuple[int, str, str]:
        async with self.http.get(self.base + path, allow_redirects=False) as resp:
            # A download (an Excel file) is no text: read as much of it as decodes.
            return resp.status, resp.headers.get("Location", ""), (await resp.read()).decode(errors="replace")

    async def csrf(self, path: str) -> str:
        _, _, page = await self.get(path)
        found = CSRF_FIELD.search(page)
        assert found, f"no CSRF field on {path}"
        return found.group(1)

    async def post(
        self, path: str, form: dict[str, str], csrf_from: str | None = None
    ) -> tuple[int, str, str]:
        data = dict(form)
        if csrf_from is not None:
            data["_csrf"] = await self.csrf(csrf_from)
        async with self.http.post(self.base + path, data=data, allow_redirects=False) as resp:
            return resp.status, resp.headers.get("Location", ""), await resp.text()

    async def sign_in(self, tenant: str, login: str) -> None:
        status, location, _ = await self.post(
            f"/{tenant}/sign-in", {"login": login, "password": PASSWORD}, csrf_from=f"/{tenant}/sign-in"
        )
        assert (status, location) == (303, f"/{tenant}/"), (status, location)


@pytest_asyncio.fixture(loop_scope="package")
async def visitors(platform: Platform) -> AsyncIterator[list[Visitor]]:
    sessions = [aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) for _ in range(3)]
    yield [Visitor(http, platform.gateway_url) for http in sessions]
    for http in sessions:
        await http.close()


async def portal_db(platform: Platform) -> asyncpg.Connection:
    conn = await asyncpg.connect(platform.stack.database_url)
    await conn.execute(f"SET search_path TO {platform.schema('portal')}")
    return conn


async def test_the_browser_holds_only_an_opaque_cookie_and_the_tokens_stay_in_the_portal(
    api: Api, platform: Platform, visitors: list[Visitor], unique: str
) -> None:
    tenant = f"ck-{unique}"
    await api.create_tenant(tenant)
    claire = visitors[0]
    await claire.sign_in(tenant, f"admin@{tenant}.test")
    async with claire.http.get(f"{claire.base}/{tenant}/orders") as page:
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe" not in policy and "frame-ancestors 'none'" in policy
        assert page.headers["Cache-Control"] == "no-store"
    async with claire.http.get(f"{claire.base}/static/portal.css") as asset:
        assert asset.status == 200 and asset.headers["Cache-Control"] == "public, max-age=3600"
        assert "Set-Cookie" not in asset.headers
    cookies = {c.key: c for c in claire.http.cookie_jar}
    session_cookie = cookies["comptoir_session"]
    assert (
        session_cookie["httponly"] and session_cookie["samesite"] == "Lax" and session_cookie["path"] == "/"
    )
    assert not session_cookie["secure"]  # served over http here; Secure when the gateway saw https
    conn = await portal_db(platform)
    try:
        stored = await conn.fetch(
            "SELECT session_key, access_token FROM sessions WHERE tenant_id = $1", tenant
        )
    finally:
        await conn.close()
    assert len(stored) == 1
    assert session_cookie.value.encode() != stored[0]["session_key"]  # only its digest is kept
    assert session_cookie.value not in stored[0]["access_token"]
    # Nothing personal (the pages ask the API for names): an erased account leaves nothing here.
    portal = platform.schema("portal") + "."
    found = await rows_holding(platform, [f"admin@{tenant}.test", "Admin"])
    assert [row for row in found if row.startswith(portal)] == []


async def test_concurrent_pages_of_a_session_refresh_its_tokens_once(
    api: Api, platform: Platform, visitors: list[Visitor], unique: str
) -> None:
    tenant = f"rf-{unique}"
    await api.create_tenant(tenant)
    claire = visitors[0]
    await claire.sign_in(tenant, f"admin@{tenant}.test")
    conn = await portal_db(platform)
    try:
        for _ in range(2):  # twice: a refresh presented twice would have ended the session
            await conn.execute("UPDATE sessions SET access_expires_at = now() WHERE tenant_id = $1", tenant)
            before = await conn.fetchval("SELECT refresh_token FROM sessions WHERE tenant_id = $1", tenant)
            pages = await asyncio.gather(
                *(claire.get(f"/{tenant}/{p}") for p in ["orders", "points", "profile"] * 4)
            )
            assert [status for status, _, _ in pages] == [200] * 12, [(s, loc) for s, loc, _ in pages]
            after = await conn.fetchval("SELECT refresh_token FROM sessions WHERE tenant_id = $1", tenant)
            assert after != before
    finally:
        await conn.close()
    assert (await claire.get(f"/{tenant}/profile"))[0] == 200


async def test_signing_out_ends_the_session_and_its_tokens_everywhere(
    api: Api, platform: Platform, visitors: list[Visitor], unique: str
) -> None:
    tenant = f"so-{unique}"
    await api.create_tenant(tenant)
    claire = visitors[0]
    await claire.sign_in(tenant, f"admin@{tenant}.test")
    conn = await portal_db(platform)
    try:
        token = await conn.fetchval("SELECT access_token FROM sessions WHERE tenant_id = $1", tenant)
        status, location, _ = await claire.post(f"/{tenant}/sign-out", {}, csrf_from=f"/{tenant}/")
        assert (status, location) == (303, f"/{tenant}/sign-in")
        assert await conn.fetchval("SELECT count(*) FROM sessions WHERE tenant_id = $1", tenant) == 0
    finally:
        await conn.close()

    async def token_refused() -> bool:
        return (await api.call("GET", "/api/identity/me", token=token))[0] == 401

    await eventually(token_refused, "the signed-out session's token to be refused", timeout=10)
    status, location, _ = await claire.get(f"/{tenant}/orders")
    assert status == 303 and location.startswith(f"/{tenant}/sign-in")


async def test_signing_out_of_all_devices_ends_the_other_devices_sessions(
    api: Api, visitors: list[Visitor], unique: str
) -> None:
    tenant = f"ev-{unique}"
    await api.create_tenant(tenant)
    phone, laptop = visitors[0], visitors[1]
    for device in (phone, laptop):
        await device.sign_in(tenant, f"admin@{tenant}.test")
    status, location, _ = await phone.post(
        f"/{tenant}/profile/sign-out-everywhere", {}, csrf_from=f"/{tenant}/profile"
    )
    assert status == 303 and "signed-out-everywhere" in location
    for device in (phone, laptop):
        status, location, _ = await device.get(f"/{tenant}/orders")
        assert status == 303 and location.startswith(f"/{tenant}/sign-in")


async def test_a_state_changing_request_without_its_csrf_token_is_refused_and_changes_nothing(
    api: Api, visitors: list[Visitor], unique: str
) -> None:
    tenant = f"cs-{unique}"
    admin_token = await api.create_tenant(tenant)
    claire = visitors[0]
    await claire.sign_in(tenant, f"admin@{tenant}.test")
    for form in ({}, {"_csrf": "forged"}):
        status, _, page = await claire.post(f"/{tenant}/admin/catalog/brands", form | {"name": "Forged"})
        assert status == 403 and "Ce formulaire a expiré" in page
    _, brands = await api.call("GET", "/api/catalog/brands", token=admin_token, expect=200)
    assert brands == []
    # Signing in needs it too: no one can sign a visitor in to an account of theirs.
    status, _, _ = await visitors[1].post(
        f"/{tenant}/sign-in", {"login": f"admin@{tenant}.test", "password": PASSWORD}
    )
    assert status == 403


PUBLIC_PAGES = {
    "/",
    "/merchants/sign-up",
    "/merchants/sign-up/{token}",
    "/{tenant}/sign-in",
    "/{tenant}/register",
    "/{tenant}/activations/{token}",
    "/{tenant}/activate-by-code",
    "/{tenant}/recovery",
    "/{tenant}/language/{locale}",
}
ROLE_PAGES = {
    "/{tenant}/admin": "admin",
    "/{tenant}/counter": "shop",
    "/{tenant}/team": "seller",
    "/{tenant}/approvals": "validator",
}
VALUES = {"token": "not-a-token", "locale": "fr", "kind": "documents", "what": "brands"}


def _pages(method: str) -> list[str]:
    routes = [route for area in AREAS for route in area.ROUTES]
    return sorted({r.path for r in routes if isinstance(r, aiohttp.web.RouteDef) and r.method == method})


def _filled(path: str, tenant: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return tenant if name == "tenant" else VALUES.get(name, str(uuid.uuid4()))

    return re.sub(r"\{(\w+)\}", value, path)


def _role_needed(path: str) -> str | None:
    return next((role for prefix, role in ROLE_PAGES.items() if path.startswith(prefix)), None)


async def test_every_page_answers_each_kind_of_visitor_as_it_should(
    api: Api, visitors: list[Visitor], unique: str
) -> None:
    tenant_a, tenant_b = f"pa-{unique}", f"pb-{unique}"
    admin_a = await api.create_tenant(tenant_a)
    await api.create_tenant(tenant_b)
    partner = f"p-{unique}@shop.test"
    await api.invite(admin_a, partner, "partner")
    anonymous, partner_of_a, admin_of_b = visitors
    await partner_of_a.sign_in(tenant_a, partner)
    await admin_of_b.sign_in(tenant_b, f"admin@{tenant_b}.test")
    private = [p for p in _pages("GET") if p not in PUBLIC_PAGES]
    assert len(private) >= 25

    for path in private:
        url = _filled(path, tenant_a)
        status, location, _ = await anonymous.get(url)
        assert status == 303 and location.startswith(f"/{tenant_a}/sign-in?next="), (path, status, location)
        status, _, _ = await admin_of_b.get(url)
        assert status == 404, (path, status)
        status, location, page = await partner_of_a.get(url)
        if _role_needed(path):
            assert status == 403 and "Accès refusé" in page, (path, status)
        else:
            # 303: a page with nothing to show sends elsewhere in the tenant (checkout, the cart empty)
            assert status in (200, 404) or (status == 303 and location.startswith(f"/{tenant_a}/")), (
                path,
                status,
            )
    for path in PUBLIC_PAGES - {"/{tenant}/language/{locale}"}:
        assert (await anonymous.get(_filled(path, tenant_a)))[0] == 200, path
    for path in _pages("POST"):
        status, _, _ = await partner_of_a.post(_filled(path, tenant_a), {})
        assert status == 403, (path, status)


async def test_the_landing_page_sends_only_to_a_tenant_of_this_site(visitors: list[Visitor]) -> None:
    anonymous = visitors[0]
    assert (await anonymous.get("/?tenant=Brand-A"))[:2] == (303, "/brand-a/sign-in")
    for elsewhere in ("//evil.example", "/evil.example", "https://evil.example", "a"):
        status, location, _ = await anonymous.get(f"/?tenant={elsewhere}")
        assert (status, location) == (200, ""), elsewhere
    status, _, page = await anonymous.get("/no-such-brand/sign-in")
    assert status == 404 and "Page introuvable" in page


async def test_a_service_that_does_not_answer_gives_a_page_saying_to_try_again(
    api: Api, platform: Platform, visitors: list[Visitor], unique: str
) -> None:
    tenant = f"dn-{unique}"
    await api.create_tenant(tenant)
    claire = visitors[0]
    await claire.sign_in(tenant, f"admin@{tenant}.test")
    await platform.stop_service("catalog")
    try:
        status, _, page = await claire.get(f"/{tenant}/catalog")
        assert status == 503 and "Réessayez dans un instant" in page and "Traceback" not in page
        assert (await claire.get(f"/{tenant}/orders"))[0] == 200  # the rest of the portal works on
    finally:
        await platform.start_service("catalog")
        await platform.wait_ready()
    assert (await claire.get(f"/{tenant}/catalog"))[0] == 200
