"""Every route of catalog's table, walked with real resources: admin routes refuse partners (403), and
every route naming a resource answers 404 to another tenant's admin, whatever the method."""

from __future__ import annotations

import json

import pytest

from libs.common.api import Endpoint
from services.catalog.access import ADMIN
from services.catalog.app import Settings, build_spec
from services.catalog.tests.conftest import Catalog

SPEC = build_spec(Settings())

pytestmark = pytest.mark.fast

PDF = b"%PDF-1.4\n%%EOF\n"


async def tenant_a_resources(catalog: Catalog) -> dict[str, str]:
    """One real resource of tenant A for each path parameter of the table."""
    brand = await catalog.brand()
    product = await catalog.create("MUG", brand_id=brand)
    organisation = await catalog.organisation()
    group = (await catalog.admin("POST", "/customer-groups", {"name": "G"}, 201))["id"]
    await catalog.terms(organisation, group_id=group, entitlements=["ecommerce"])
    category = (await catalog.admin("POST", "/categories", {"names": {"fr": "C"}}, 201))["id"]
    price_list = await catalog.price_list(brand, {product["id"]: 1})
    status, document, _ = await catalog.send(
        "POST", f"/brands/{brand}/documents?kind=planogram&period=2025&title=P", catalog.admin_a, PDF
    )
    assert status == 201
    status, asset, _ = await catalog.send("POST", "/assets?title=A", catalog.admin_a, PDF)
    assert status == 201
    return {
        "product_id": product["id"],
        "code": product["code"],
        "brand_id": brand,
        "category_id": category,
        "group_id": group,
        "organisation_id": organisation,
        "price_list_id": price_list["id"],
        "document_id": json.loads(document)["id"],
        "asset_id": json.loads(asset)["id"],
    }


def path_of(endpoint: Endpoint, resources: dict[str, str]) -> str:
    path = endpoint.path
    for name in endpoint.path_parameters:
        path = path.replace("{" + name + "}", resources[name])
    return path


async def test_every_admin_route_refuses_a_partner_and_a_validator(catalog: Catalog) -> None:
    resources = await tenant_a_resources(catalog)
    admin_routes = [e for e in SPEC.endpoints if e.roles == ADMIN]
    assert len(admin_routes) >= 20

    for endpoint in admin_routes:
        for caller in (catalog.partner_a, catalog.member_of(resources["organisation_id"], "validator")):
            status, body, _ = await catalog.send(endpoint.method, path_of(endpoint, resources), caller, b"{}")
            assert status == 403, (endpoint.method, endpoint.path, body)
            assert "admin" in json.loads(body)["detail"]


async def test_every_route_naming_a_resource_is_404_to_another_tenant(catalog: Catalog) -> None:
    resources = await tenant_a_resources(catalog)
    resource_routes = [e for e in SPEC.endpoints if e.path_parameters]
    assert len(resource_routes) >= 20
    before = await catalog.admin("GET", f"/price-lists/{resources['price_list_id']}")

    for endpoint in resource_routes:
        status, body, _ = await catalog.send(
            endpoint.method,
            path_of(endpoint, resources),
            catalog.admin_b,
            b"{}",
            content_type="application/json",
        )
        assert status == 404, (endpoint.method, endpoint.path, body)
        # Organisations are identity's: one of another tenant is unknown here, like an unknown id.
        kind = "unknown-organisation" if "{organisation_id}" in endpoint.path else "not-found"
        assert json.loads(body)["type"] == f"urn:comptoir:problem:{kind}"

    # Nothing of tenant A was touched on the way.
    assert await catalog.admin("GET", f"/price-lists/{resources['price_list_id']}") == before
    assert (await catalog.call("GET", f"/products/{resources['product_id']}", catalog.admin_a))[0] == 200
    assert (await catalog.send("GET", f"/documents/{resources['document_id']}/file", catalog.partner_a))[
        0
    ] == 200


async def test_no_route_answers_without_a_token(catalog: Catalog) -> None:
    resources = await tenant_a_resources(catalog)
    for endpoint in SPEC.endpoints:
        assert endpoint.roles is not None, endpoint.path
        status, _, _ = await catalog.send(endpoint.method, path_of(endpoint, resources), None, b"{}")
        assert status == 401, (endpoint.method, endpoint.path)
