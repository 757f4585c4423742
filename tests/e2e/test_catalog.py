"""Catalog and ordering together, through the gateway: a partner sees and is charged the price her
organisation pays, only for products of her assortment, in the catalog and the Excel file alike;
a gated asset needs her organisation's entitlement; a bulk import is all or nothing."""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import Any

import openpyxl
import pytest

from tests.e2e.conftest import Api, eventually

pytestmark = [pytest.mark.asyncio(loop_scope="package"), pytest.mark.slow]


async def _post(api: Api, token: str, path: str, body: Any, expect: int = 201) -> Any:
    return (await api.call("POST", f"/api/catalog{path}", token=token, expect=expect, json=body))[1]


async def _partner_of_an_organisation(api: Api, tenant: str) -> tuple[str, str, str]:
    """A new tenant with an organisation and a partner of it: (admin token, organisation, partner token)."""
    admin = await api.create_tenant(tenant)
    organisation = await api.organisation(admin, "O1")
    await api.invite(admin, f"claire@{tenant}.test", "partner", organisation)
    return admin, organisation, await api.login(tenant, f"claire@{tenant}.test")


async def test_a_partner_sees_orders_and_downloads_her_organisations_prices_within_her_assortment(
    api: Api, unique: str
) -> None:
    admin, org, partner = await _partner_of_an_organisation(api, f"cat-{unique}")

    brand = await _post(api, admin, "/brands", {"name": "Laboratoire"})
    products = {
        code: await _post(
            api,
            admin,
            "/products",
            {"code": code, "name": code, "price_minor": base, "currency": "EUR", "brand_id": brand["id"]},
        )
        for code, base in (("CRM-1", 1200), ("SRM-2", 2400))
    }
    group = await _post(api, admin, "/customer-groups", {"name": "Pharmacies"})
    lists = {"brand": 1100, "group": 1050, "organisation": 990}
    for scope, price in lists.items():
        await _post(
            api,
            admin,
            "/price-lists",
            {
                "name": f"2026 {scope}",
                "scope": scope,
                "brand_id": brand["id"],
                "group_id": group["id"] if scope == "group" else None,
                "organisation_id": org if scope == "organisation" else None,
                "currency": "EUR",
                "prices": [{"product_id": p["id"], "price_minor": price} for p in products.values()],
            },
        )
    await api.call(
        "PUT",
        f"/api/catalog/organisations/{org}/terms",
        token=admin,
        expect=200,
        json={"group_id": group["id"], "assortment": [products["CRM-1"]["id"]], "entitlements": []},
    )

    # Browsing: only her assortment, at her organisation's price.
    _, page = await api.call("GET", "/api/catalog/products", token=partner, expect=200)
    assert [(p["code"], p["price"]["price_minor"]) for p in page["items"]] == [("CRM-1", 990)]
    assert (await api.call("GET", "/api/catalog/products/by-code/SRM-2", token=partner))[0] == 404

    # Ordering, from its own read model: the same price, the same assortment.
    async def priced_by_her_list() -> dict[str, Any] | None:
        status, order = await api.call(
            "POST", "/api/ordering/orders", token=partner, json={"lines": [{"code": "CRM-1", "quantity": 2}]}
        )
        if status == 201 and order["lines"][0]["unit_price_minor"] == 990:
            return dict(order)
        return None  # the lists or the terms have not reached ordering yet (an earlier price)

    order = await eventually(priced_by_her_list, "ordering to charge the organisation's price")
    assert order["total_minor"] == 1980 and order["lines"][0]["price_list_id"]

    async def refused_outside() -> dict[str, Any] | None:
        status, problem = await api.call(
            "POST", "/api/ordering/orders", token=partner, json={"lines": [{"code": "SRM-2", "quantity": 1}]}
        )
        if status == 201:
            return None  # the terms travel on their own topic and may still be on their way
        assert status == 422, problem
        return problem if "assortment" in str(problem) else None

    problem = await eventually(refused_outside, "the assortment to reach ordering")
    assert problem["errors"][0]["field"] == "lines.0.code"

    # The Excel price list holds what she pays, nothing outside her assortment.
    async with api.http.get(
        f"{api.base}/api/catalog/brands/{brand['id']}/price-list.xlsx",
        headers={"Authorization": f"Bearer {partner}"},
    ) as resp:
        assert resp.status == 200
        # Her prices: never kept by a shared cache, and saved under the file's name.
        assert resp.headers["Cache-Control"] == "private, no-store"
        assert resp.headers["Content-Disposition"].startswith('attachment; filename="prices-Laboratoire-')
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        book = openpyxl.load_workbook(io.BytesIO(await resp.read()), read_only=True)
    cells = [[c for c in row if c is not None] for row in book.active.iter_rows(values_only=True)]
    rows = [row for row in cells if row and row[0] in products]
    assert [(row[0], 990 in row) for row in rows] == [("CRM-1", True)], cells


async def test_a_gated_asset_needs_the_organisations_entitlement(api: Api, unique: str) -> None:
    admin, org, partner = await _partner_of_an_organisation(api, f"asset-{unique}")
    png = b"\x89PNG\r\n\x1a\n" + uuid.uuid4().bytes * 4
    _, asset = await api.call(
        "POST",
        "/api/catalog/assets?title=Visuels&filename=visuel.png&required_entitlement=ecommerce",
        token=admin,
        expect=201,
        headers={"Content-Type": "image/png"},
        data=png,
    )
    url = f"/api/catalog/assets/{asset['id']}/file"
    status, problem = await api.call("GET", url, token=partner)
    assert status == 403 and "ecommerce" in problem["detail"], problem
    await api.call(
        "PUT",
        f"/api/catalog/organisations/{org}/terms",
        token=admin,
        expect=200,
        json={"group_id": None, "assortment": None, "entitlements": ["ecommerce"]},
    )
    async with api.http.get(api.base + url, headers={"Authorization": f"Bearer {partner}"}) as resp:
        assert resp.status == 200 and await resp.read() == png
        assert (
            resp.headers["Content-Disposition"]
            == "attachment; filename=\"visuel.png\"; filename*=UTF-8''visuel.png"
        )
        assert resp.headers["Cache-Control"] == "private, no-store"
        assert resp.headers["ETag"] == f'"{hashlib.sha256(png).hexdigest()}"'
        assert resp.headers["X-Frame-Options"] == "DENY" and "Server" not in resp.headers


async def test_no_tenant_can_claim_another_tenants_organisation(api: Api, unique: str) -> None:
    their_admin, theirs, their_partner = await _partner_of_an_organisation(api, f"claim-b-{unique}")
    admin = await api.create_tenant(f"claim-a-{unique}")
    brand = await _post(api, admin, "/brands", {"name": "Laboratoire"})
    terms = f"/api/catalog/organisations/{theirs}/terms"
    claim = {"group_id": None, "assortment": None, "entitlements": ["ecommerce"]}
    organisation_list = {
        "name": "Claimed",
        "scope": "organisation",
        "brand_id": brand["id"],
        "organisation_id": theirs,
        "currency": "EUR",
        "prices": [],
    }

    status, problem = await api.call("PUT", terms, token=admin, json=claim)
    assert (status, problem["type"]) == (404, "urn:comptoir:problem:unknown-organisation"), problem
    status, problem = await api.call("POST", "/api/catalog/price-lists", token=admin, json=organisation_list)
    assert (status, problem["type"]) == (404, "urn:comptoir:problem:unknown-organisation"), problem
    status, problem = await api.call(
        "PUT", f"/api/catalog/organisations/{uuid.uuid4()}/terms", token=admin, json=claim
    )
    assert (status, problem["type"]) == (404, "urn:comptoir:problem:unknown-organisation"), problem

    # Its own tenant still gives it terms and a list, and its partner reads them.
    _, their_terms = await api.call(
        "PUT", terms, token=their_admin, expect=200, json=claim | {"entitlements": []}
    )
    assert their_terms["version"] == 1
    their_brand = await _post(api, their_admin, "/brands", {"name": "Laboratoire"})
    await _post(api, their_admin, "/price-lists", organisation_list | {"brand_id": their_brand["id"]})
    _, read = await api.call("GET", terms, token=their_partner, expect=200)
    assert read == their_terms


async def test_a_bulk_import_with_one_bad_line_changes_nothing_and_names_that_line(
    api: Api, unique: str
) -> None:
    tenant = f"import-{unique}"
    admin = await api.create_tenant(tenant)
    csv = "code;name;price_minor;currency\nIMP-1;Crème;1200;EUR\nIMP-2;Sérum;-5;EUR\nIMP-3;Baume;800;EUR\n"
    headers = {"Content-Type": "text/csv"}
    status, problem = await api.call(
        "POST", "/api/catalog/imports/products", token=admin, headers=headers, data=csv.encode()
    )
    assert status == 422 and [e["line"] for e in problem["errors"]] == [3], problem
    _, page = await api.call("GET", "/api/catalog/products", token=admin, expect=200)
    assert page["items"] == []
    good = csv.replace("-5", "2500")
    _, report = await api.call(
        "POST", "/api/catalog/imports/products", token=admin, expect=200, headers=headers, data=good.encode()
    )
    assert report["created"] == 3
    _, page = await api.call("GET", "/api/catalog/products", token=admin, expect=200)
    assert [p["code"] for p in page["items"]] == ["IMP-1", "IMP-2", "IMP-3"]
