"""The access matrix: every guarded route of every service, walked through the gateway with real
tokens aimed at real resources of another tenant, or of another person, or with a role the route
does not grant. It reads the services' endpoint tables, so a new route is covered the day it is
declared — and fails here until this file knows a real resource for each of its path parameters.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from libs.common.api import ANY_ROLE, TENANT, Endpoint
from libs.devstack.devrun import Platform
from tests.contracts.export import SPECS
from tests.e2e.conftest import Api, eventually

pytestmark = [pytest.mark.asyncio(loop_scope="package"), pytest.mark.slow]

ROLES = ("admin", "shop", "partner", "validator", "seller", "customer", "integration")
PEOPLE = ROLES[1:-1]  # roles of accounts an admin invites; integration is an API client's
TABLES = {name: spec.endpoints for name, spec in SPECS.items()}
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@dataclass
class World:
    """Tenant A with one person of each role (insiders: the owners' organisation O1), people of
    another organisation O2 and without one (outsiders), real resources of A, and tenant B."""

    insiders: dict[str, str] = field(default_factory=dict)  # role → token, in O1 where it has one
    outsiders: dict[str, str] = field(default_factory=dict)  # role → token, in O2 or none
    other_tenant: dict[str, str] = field(default_factory=dict)  # role → token, in tenant B
    other_tenant_logins: dict[str, tuple[str, str]] = field(default_factory=dict)  # role → tenant, email
    resources: dict[str, str] = field(default_factory=dict)  # path parameter → a real value of A


async def _invite(
    api: Api,
    admin: str,
    tenant: str,
    role: str,
    organisation: str | None,
    logins: dict[str, Any] | None = None,
) -> str:
    """An account of `role` created by the admin with an initial password; its token. `logins`, when
    given, keeps how to sign in again as that role."""
    address = f"{role}-{uuid.uuid4().hex[:6]}@{tenant}.test"
    await api.invite(admin, address, role, organisation)
    if logins is not None:
        logins[role] = (tenant, address)
    return await api.login(tenant, address)


@pytest_asyncio.fixture(loop_scope="package", scope="module")
async def world(platform: Platform) -> AsyncIterator[World]:
    async with aiohttp.ClientSession() as http:
        yield await _populate(Api(http, platform.gateway_url, platform.stack, platform.platform_key))


async def _populate(api: Api) -> World:
    world = World()
    a, b = f"acl-a-{uuid.uuid4().hex[:6]}", f"acl-b-{uuid.uuid4().hex[:6]}"
    admin = await api.create_tenant(a)
    o1, o2 = await api.organisation(admin, "O1"), await api.organisation(admin, "O2")
    world.insiders["admin"] = admin
    world.insiders["integration"] = await api.client_token(admin)
    world.outsiders["integration"] = await api.client_token(admin, "Another system")
    for role in PEOPLE:
        in_org = role in ("partner", "validator", "customer")
        world.insiders[role] = await _invite(api, admin, a, role, o1 if in_org else None)
        world.outsiders[role] = await _invite(api, admin, a, role, o2 if in_org else None)
    b_admin = await api.create_tenant(b)
    world.other_tenant_logins["admin"] = (b, f"admin@{b}.test")  # as `create_tenant` names it
    partner_b = await _invite(api, b_admin, b, "partner", None, world.other_tenant_logins)
    world.other_tenant = {"admin": b_admin, "partner": partner_b}

    # Real resources of tenant A, owned by the insider partner and her organisation O1.
    partner = world.insiders["partner"]
    _, me = await api.call("GET", "/api/identity/me", token=partner, expect=200)
    _, brand = await api.call(
        "POST", "/api/catalog/brands", token=admin, expect=201, json={"name": "Brand A"}
    )
    _, category = await api.call(
        "POST", "/api/catalog/categories", token=admin, expect=201, json={"names": {"fr": "Soins"}}
    )
    code = f"ACL-{uuid.uuid4().hex[:6]}"
    _, product = await api.call(
        "POST",
        "/api/catalog/products",
        token=admin,
        expect=201,
        json={
            "code": code,
            "name": "Crème",
            "price_minor": 1000,
            "currency": "EUR",
            "brand_id": brand["id"],
        },
    )
    _, group = await api.call(
        "POST", "/api/catalog/customer-groups", token=admin, expect=201, json={"name": "G"}
    )
    await api.call(
        "PUT",
        f"/api/catalog/organisations/{o1}/terms",
        token=admin,
        expect=200,
        json={"group_id": group["id"], "assortment": None, "entitlements": ["ecommerce"]},
    )
    _, price_list = await api.call(
        "POST",
        "/api/catalog/price-lists",
        token=admin,
        expect=201,
        json={
            "name": "O1 2026",
            "scope": "organisation",
            "brand_id": brand["id"],
            "organisation_id": o1,
            "currency": "EUR",
            "prices": [{"product_id": product["id"], "price_minor": 900}],
        },
    )
    pdf = {"Content-Type": "application/pdf"}
    _, document = await api.call(
        "POST",
        f"/api/catalog/brands/{brand['id']}/documents?kind=terms-of-sale&period=2026&title=CGV",
        token=admin,
        expect=201,
        headers=pdf,
        data=PDF,
    )
    _, asset = await api.call(
        "POST", "/api/catalog/assets?title=Kit", token=admin, expect=201, headers=pdf, data=PDF
    )
    order = await api.order(partner, [{"code": code, "quantity": 2}])
    await api.call(
        "POST", "/api/ordering/cart/lines", token=partner, expect=200, json={"lines": [{"code": code}]}
    )
    _, template = await api.call(
        "POST", "/api/ordering/cart/templates", token=partner, expect=201, json={"name": "Weekly"}
    )
    _, client = await api.call(
        "POST", "/api/identity/api-clients", token=admin, expect=201, json={"name": "ERP"}
    )
    _, quote = await api.call("POST", "/api/ordering/checkout/quotes", token=partner, expect=201, json={})
    address = {"recipient": "Pharmacie O1", "line1": "1 rue Haute", "postal_code": "69001", "city": "Lyon"}
    _, book_entry = await api.call(
        "POST",
        "/api/ordering/addresses",
        token=world.insiders["validator"],
        expect=201,
        json={"address": address},
    )
    _, point = await api.call(
        "POST",
        "/api/ordering/pickup-points",
        token=admin,
        expect=201,
        json={"name": "Centre", "address": address},
    )
    kept = {"lines": [{"code": code, "quantity": 1}], "address": address, "keep_address": True}
    await api.call("POST", "/api/ordering/orders", token=partner, expect=201, json=kept)
    _, [address_request] = await api.call("GET", "/api/ordering/address-requests", token=admin, expect=200)
    received = await api.order(partner, [{"code": code, "quantity": 2}])
    delivered = {"status": "delivered"}
    await api.call(
        "POST", f"/api/ordering/orders/{received['order_id']}/status", token=admin, expect=200, json=delivered
    )
    _, claim = await api.call(
        "POST",
        f"/api/ordering/orders/{received['order_id']}/returns",
        token=partner,
        expect=201,
        json={"lines": [{"code": code, "quantity": 1}], "reason": "Broken"},
    )
    _, photo = await api.call(
        "POST",
        f"/api/ordering/returns/{claim['return_id']}/photos",
        token=partner,
        expect=201,
        data=b"\x89PNG\r\n\x1a\n" + bytes(32),
    )
    _, top_up = await api.call(
        "POST", "/api/ordering/balance/top-ups", token=partner, expect=201, json={"amount_minor": 1000}
    )

    card = f"ACL{uuid.uuid4().hex[:10].upper()}"
    await api.call(
        "POST",
        "/api/identity/accounts/customers",
        token=admin,
        expect=201,
        json={"email": f"card-{card}@{a}.test", "display_name": "Carte", "card_number": card},
    )
    _, rule = await api.call(
        "POST",
        "/api/loyalty/counter/rules",
        token=admin,
        expect=201,
        json={"name": "1 per euro", "earns": "per_amount", "points": 1},
    )
    _, program = await api.call(
        "POST",
        "/api/loyalty/counter/programs",
        token=admin,
        expect=201,
        json={"title": "10 % off", "kind": "discount", "percent_bp": 1000, "points_cost": 40},
    )
    _, purchase = await api.call(
        "POST", "/api/loyalty/gift-cards/purchases", token=partner, expect=201, json={"amount_minor": 2000}
    )

    async def awarded() -> bool:
        status, _ = await api.call("GET", f"/api/loyalty/accounts/{me['account_id']}", token=admin)
        known, _ = await api.call("GET", f"/api/loyalty/cards/{card}", token=admin)
        return status == 200 and known == 200

    await eventually(awarded, "the partner's points account and the customer's card")

    async def a_message() -> str | None:
        _, messages = await api.call(
            "GET", f"/api/notify/messages?account_id={me['account_id']}", token=admin, expect=200
        )
        return str(messages[0]["id"]) if messages else None

    world.resources = {
        "account_id": str(me["account_id"]),
        "organisation_id": o1,
        "brand_id": str(brand["id"]),
        "category_id": str(category["id"]),
        "product_id": str(product["id"]),
        "code": code,
        "group_id": str(group["id"]),
        "price_list_id": str(price_list["id"]),
        "document_id": str(document["id"]),
        "asset_id": str(asset["id"]),
        "order_id": str(order["order_id"]),
        "template_id": str(template["template_id"]),
        "quote_id": str(quote["quote_id"]),
        "client_id": str(client["client_id"]),
        "address_id": str(book_entry["address_id"]),
        "pickup_point_id": str(point["pickup_point_id"]),
        "request_id": str(address_request["request_id"]),
        "payment_id": str(top_up["payment"]["payment_id"]),
        "return_id": str(claim["return_id"]),
        "photo_id": str(photo["photo_id"]),
        "message_id": await eventually(a_message, "a message to the partner"),
        "number": card,
        "rule_id": str(rule["rule_id"]),
        "program_id": str(program["program_id"]),
        "purchase_id": str(purchase["purchase"]["purchase_id"]),
    }
    return world


def _url(service: str, endpoint: Endpoint, resources: dict[str, str]) -> str:
    path = endpoint.path
    for name in endpoint.path_parameters:
        path = path.replace(f"{{{name}}}", resources[name])
    return f"/api/{service}{path}"


async def _status(api: Api, method: str, url: str, token: str) -> tuple[int, str]:
    body: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    async with api.http.request(
        method, api.base + url, headers={"Authorization": f"Bearer {token}"}, **body
    ) as resp:
        return resp.status, (await resp.read()).decode(errors="replace")


def _guarded() -> list[tuple[str, Endpoint]]:
    return [(service, e) for service, table in TABLES.items() for e in table if e.roles is not None]


async def test_every_guarded_route_names_only_parameters_with_a_real_resource(world: World) -> None:
    missing = [
        f"{service} {e.method} {e.path}: {name}"
        for service, e in _guarded()
        for name in e.path_parameters
        if name not in world.resources
    ]
    assert not missing, f"give the access matrix a real resource for: {missing}"


async def test_no_route_lets_another_tenant_reach_a_real_resource(api: Api, world: World) -> None:
    leaks = []
    for service, endpoint in _guarded():
        granted = endpoint.roles.reach if endpoint.roles else {}
        role = "admin" if ANY_ROLE in granted or "admin" in granted else "partner"
        if role not in granted and ANY_ROLE not in granted:
            continue  # no role of tenant B is granted: the role test covers it
        url = _url(service, endpoint, world.resources)
        status, text = await _status(api, endpoint.method, url, world.other_tenant[role])
        if status == 401 and role in world.other_tenant_logins:
            # A route walked before (sign out everywhere) ended this person's sessions: sign in again.
            world.other_tenant[role] = await api.login(*world.other_tenant_logins[role])
            status, text = await _status(api, endpoint.method, url, world.other_tenant[role])
        if endpoint.path_parameters:
            if status not in (403, 404):
                leaks.append(f"{endpoint.method} {url} as tenant B's {role}: {status} {text[:200]}")
        elif endpoint.method == "GET":
            # A collection: tenant B sees its own, never one of A's resources.
            seen = [name for name, value in world.resources.items() if value in text]
            if status != 200 or seen:
                leaks.append(f"{endpoint.method} {url} as tenant B's {role}: {status}, shows A's {seen}")
    assert not leaks, "\n".join(leaks)


async def test_no_route_answers_a_role_it_does_not_grant(api: Api, world: World) -> None:
    leaks = []
    for service, endpoint in _guarded():
        granted = endpoint.roles.reach if endpoint.roles else {}
        if ANY_ROLE in granted:
            continue
        url = _url(service, endpoint, world.resources)
        for role in ROLES:
            if role in granted:
                continue
            status, text = await _status(api, endpoint.method, url, world.insiders[role])
            if status != 403:
                leaks.append(f"{endpoint.method} {url} as a {role}: {status} {text[:200]}")
    assert not leaks, "\n".join(leaks)


async def test_no_route_lets_a_role_reach_beyond_its_organisation_or_itself(api: Api, world: World) -> None:
    """A role granted less than the whole tenant, aimed at a resource of the partner of O1 by someone
    of O2 or of no organisation, finds nothing."""
    leaks = []
    checked = 0
    for service, endpoint in _guarded():
        if not endpoint.path_parameters or endpoint.roles is None:
            continue
        url = _url(service, endpoint, world.resources)
        for granted_role, reach in endpoint.roles.reach.items():
            if reach >= TENANT:
                continue
            for role in ROLES if granted_role == ANY_ROLE else (granted_role,):
                if endpoint.roles.reach_of_roles({role}) == TENANT:
                    continue  # another grant gives this role the whole tenant
                status, text = await _status(api, endpoint.method, url, world.outsiders[role])
                checked += 1
                if status != 404:
                    leaks.append(f"{endpoint.method} {url} as an outside {role}: {status} {text[:200]}")
    assert checked, "no route grants less than the tenant: this test checks nothing"
    assert not leaks, "\n".join(leaks)


async def test_the_matrix_covers_every_service_with_routes(platform: Platform) -> None:
    # The portal has pages, not API routes: tests/e2e/test_portal_sessions.py walks them the same way.
    assert set(TABLES) == {name for name in platform.services if name not in ("gateway", "portal")}
