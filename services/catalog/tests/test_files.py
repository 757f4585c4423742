"""Files partners download: terms of sale and planograms per brand and period, checked on
upload; the price list as an Excel file at the prices the caller's organisation pays; digital assets
that only organisations with the e-commerce amendment get."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import openpyxl
import pytest

from services.catalog.tests.conftest import UPLOAD_MAX_BYTES, Catalog

pytestmark = pytest.mark.fast

PDF_BYTES = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)


async def upload(
    catalog: Catalog,
    brand: str,
    query: str,
    data: bytes = PDF_BYTES,
    caller: dict[str, Any] | None = None,
    **kw: Any,
) -> tuple[int, Any]:
    status, body, _ = await catalog.send(
        "POST", f"/brands/{brand}/documents?{query}", caller or catalog.admin_a, data, **kw
    )
    return status, json.loads(body) if body else None


async def test_an_admin_uploads_terms_of_sale_and_any_user_of_the_tenant_downloads_them(
    catalog: Catalog,
) -> None:
    brand = await catalog.brand("CeraVe")
    status, document = await upload(
        catalog,
        brand,
        "kind=terms-of-sale&period=2025&title=CGV%20CeraVe%202025&filename=CGV%202025%20%C3%A9t%C3%A9.pdf",
    )
    assert status == 201, document
    assert document["content_type"] == "application/pdf" and document["size_bytes"] == len(PDF_BYTES)
    assert document["sha256"] == hashlib.sha256(PDF_BYTES).hexdigest()
    await upload(catalog, brand, "kind=planogram&period=2024&title=Plano%202024")

    for caller in (catalog.partner_a, catalog.member_of(str(uuid.uuid4()), "validator"), catalog.admin_a):
        status, body, headers = await catalog.send("GET", f"/documents/{document['id']}/file", caller)
        assert status == 200 and body == PDF_BYTES
        assert headers["Content-Type"] == "application/pdf"
        assert "CGV 2025 été.pdf" in unquote(headers["Content-Disposition"])
    status, listed, _ = await catalog.call("GET", f"/brands/{brand}/documents", catalog.partner_a)
    assert status == 200
    assert [(d["kind"], d["period"]) for d in listed["documents"]] == [
        ("terms-of-sale", "2025"),
        ("planogram", "2024"),
    ]
    assert listed["price_list"] == f"/brands/{brand}/price-list.xlsx"
    status, only_2024, _ = await catalog.call(
        "GET", f"/brands/{brand}/documents?period=2024", catalog.partner_a
    )
    assert [d["title"] for d in only_2024["documents"]] == ["Plano 2024"]


async def test_documents_are_for_logged_in_users_of_the_tenant_only(catalog: Catalog) -> None:
    brand = await catalog.brand()
    _, document = await upload(catalog, brand, "kind=terms-of-sale&period=2025&title=CGV")
    path = f"/documents/{document['id']}/file"

    assert (await catalog.send("GET", path, None))[0] == 401
    status, body, _ = await catalog.send("GET", path, catalog.admin_b)
    assert status == 404 and PDF_BYTES not in body
    assert (await catalog.call("GET", f"/brands/{brand}/documents", catalog.admin_b))[0] == 404
    assert (await upload(catalog, brand, "kind=planogram&period=2025&title=X", caller=catalog.admin_b))[
        0
    ] == 404
    assert (await upload(catalog, brand, "kind=planogram&period=2025&title=X", caller=catalog.partner_a))[
        0
    ] == 403
    assert (await catalog.call("DELETE", f"/documents/{document['id']}", catalog.admin_b))[0] == 404
    assert (await catalog.call("DELETE", f"/documents/{document['id']}", catalog.partner_a))[0] == 403
    assert (await catalog.send("GET", path, catalog.partner_a))[0] == 200
    assert (await catalog.call("DELETE", f"/documents/{document['id']}", catalog.admin_a))[0] == 204
    assert (await catalog.send("GET", path, catalog.partner_a))[0] == 404


async def test_a_png_named_pdf_is_refused_whatever_its_name_or_content_type(catalog: Catalog) -> None:
    brand = await catalog.brand()

    status, problem = await upload(
        catalog,
        brand,
        "kind=planogram&period=2025&title=Fake&filename=plano.pdf",
        PNG_BYTES,
        content_type="application/pdf",
    )

    assert status == 415, problem
    assert (
        problem["type"] == "urn:comptoir:problem:unsupported-file-type" and "image/png" in problem["detail"]
    )
    assert (await upload(catalog, brand, "kind=planogram&period=2025&title=Text", b"just text"))[0] == 415
    assert (await upload(catalog, brand, "kind=planogram&period=2025&title=Empty", b""))[0] == 422
    assert (await catalog.call("GET", f"/brands/{brand}/documents", catalog.admin_a))[1]["documents"] == []


async def test_a_document_over_the_size_limit_is_413_and_stored_nowhere(catalog: Catalog) -> None:
    brand = await catalog.brand()
    too_big = PDF_BYTES + bytes(UPLOAD_MAX_BYTES)

    status, problem = await upload(catalog, brand, "kind=planogram&period=2025&title=Big", too_big)

    assert status == 413, problem
    assert str(UPLOAD_MAX_BYTES) in problem["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit is checked as it comes
        yield PDF_BYTES
        for _ in range(UPLOAD_MAX_BYTES // 8192 + 2):
            yield bytes(8192)

    headers = catalog.service.tokens.headers(**catalog.admin_a)
    url = f"{catalog.service.url}/brands/{brand}/documents?kind=planogram&period=2025&title=Streamed"
    async with catalog.service.http.post(url, data=chunks(), headers=headers) as resp:
        assert resp.status == 413
    exactly = PDF_BYTES + bytes(UPLOAD_MAX_BYTES - len(PDF_BYTES))
    assert (await upload(catalog, brand, "kind=planogram&period=2025&title=Fits", exactly))[0] == 201
    assert (
        len((await catalog.call("GET", f"/brands/{brand}/documents", catalog.admin_a))[1]["documents"]) == 1
    )


@pytest.mark.parametrize(
    "query",
    [
        "kind=invoice&period=2025&title=X",
        "kind=planogram&period=&title=X",
        "kind=planogram&period=2025/1&title=X",
        "kind=planogram&period=2025",
        "kind=planogram&period=2025&title=X&filename=../etc/passwd",
        "kind=planogram&period=2025&title=X&colour=red",
    ],
)
async def test_document_metadata_is_checked_before_the_file_is_read(catalog: Catalog, query: str) -> None:
    brand = await catalog.brand()
    assert (await upload(catalog, brand, query))[0] == 422


async def test_a_replayed_upload_stores_the_document_once(catalog: Catalog) -> None:
    brand = await catalog.brand()
    first = await upload(catalog, brand, "kind=planogram&period=2025&title=P", key="plano-1")
    again = await upload(catalog, brand, "kind=planogram&period=2025&title=P", key="plano-1")
    assert first == again and first[0] == 201
    assert (
        len((await catalog.call("GET", f"/brands/{brand}/documents", catalog.admin_a))[1]["documents"]) == 1
    )


def prices_in(workbook: bytes) -> dict[str, tuple[int, str]]:
    """Code -> (price in minor units, where it comes from), read back from the Excel file."""
    sheet = openpyxl.load_workbook(io.BytesIO(workbook), read_only=True).worksheets[0]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    header = next(i for i, row in enumerate(rows) if row and row[0] == "Code")
    assert rows[header][6] == "Unit price (minor units)"
    return {row[0]: (int(row[6]), row[7]) for row in rows[header + 1 :] if row and row[0]}


async def test_the_excel_price_list_holds_what_the_callers_organisation_pays_within_its_assortment(
    catalog: Catalog,
) -> None:
    brand, other_brand = await catalog.brand("CeraVe"), await catalog.brand("Vichy")
    cream = await catalog.priced("CREAM", brand, 1000)
    gel = await catalog.priced("GEL", brand, 800)
    serum = await catalog.priced("SERUM", brand, 3000)
    await catalog.priced("OLD", brand, 5, active=False)
    await catalog.priced("VICHY", other_brand, 100)
    group = (await catalog.admin("POST", "/customer-groups", {"name": "Pharmacies"}, 201))["id"]
    own, grouped = await catalog.organisation(), await catalog.organisation()
    await catalog.terms(own, group_id=group, assortment=[cream, serum])
    await catalog.terms(grouped, group_id=group)
    await catalog.price_list(brand, {cream: 900, gel: 700})
    await catalog.price_list(brand, {cream: 850}, scope="group", group_id=group)
    await catalog.price_list(brand, {cream: 610, serum: 2500}, scope="organisation", organisation_id=own)
    path = f"/brands/{brand}/price-list.xlsx"

    status, workbook, headers = await catalog.send("GET", path, catalog.member_of(own))
    assert status == 200
    assert headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert prices_in(workbook) == {
        "CREAM": (610, "organisation price list"),
        "SERUM": (2500, "organisation price list"),
    }

    status, workbook, _ = await catalog.send("GET", path, catalog.member_of(grouped))
    assert prices_in(workbook) == {
        "CREAM": (850, "group price list"),
        "GEL": (700, "brand price list"),
        "SERUM": (3000, "base price"),
    }
    status, workbook, _ = await catalog.send("GET", path, catalog.partner_a)
    assert {code: price for code, (price, _) in prices_in(workbook).items()} == {
        "CREAM": 900,
        "GEL": 700,
        "SERUM": 3000,
    }
    assert (await catalog.send("GET", path, catalog.admin_b))[0] == 404
    assert (await catalog.send("GET", path, None))[0] == 401


async def test_a_name_that_looks_like_a_formula_stays_text_in_the_excel_file(catalog: Catalog) -> None:
    brand = await catalog.brand()
    await catalog.priced("EVIL", brand, 1, name='=HYPERLINK("http://evil","x")')

    status, workbook, _ = await catalog.send("GET", f"/brands/{brand}/price-list.xlsx", catalog.partner_a)

    assert status == 200
    sheet = openpyxl.load_workbook(io.BytesIO(workbook)).worksheets[0]
    cell = next(row[2] for row in sheet.iter_rows() if row[0].value == "EVIL")
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")


async def upload_asset(catalog: Catalog, query: str, data: bytes = PNG_BYTES) -> dict[str, Any]:
    status, body, _ = await catalog.send("POST", f"/assets?{query}", catalog.admin_a, data)
    assert status == 201, body
    return dict(json.loads(body))


async def test_a_gated_asset_needs_the_organisations_entitlement(catalog: Catalog) -> None:
    gated = await upload_asset(
        catalog, "title=Packshots&filename=packshots.png&required_entitlement=ecommerce"
    )
    free = await upload_asset(catalog, "title=Logo", PDF_BYTES)
    signed, unsigned = await catalog.organisation(), await catalog.organisation()
    await catalog.terms(signed, entitlements=["ecommerce"])
    await catalog.terms(unsigned, entitlements=["b2b"])
    path = f"/assets/{gated['id']}/file"

    for caller, why in (
        (catalog.member_of(unsigned), "contract does not include it"),
        (catalog.partner_a, "belongs to no organisation"),
    ):
        status, body, _ = await catalog.send("GET", path, caller)
        assert status == 403
        problem = json.loads(body)
        assert problem["type"] == "urn:comptoir:problem:entitlement-required"
        assert "'ecommerce'" in problem["detail"] and why in problem["detail"]
        assert "e-commerce amendment" in problem["detail"]
    for caller in (catalog.member_of(signed), catalog.admin_a):
        status, body, headers = await catalog.send("GET", path, caller)
        assert (status, body, headers["Content-Type"]) == (200, PNG_BYTES, "image/png")
    assert (await catalog.send("GET", f"/assets/{free['id']}/file", catalog.member_of(unsigned)))[
        1
    ] == PDF_BYTES
    assert (await catalog.send("GET", path, catalog.admin_b))[0] == 404

    status, listed, _ = await catalog.call("GET", "/assets", catalog.member_of(unsigned))
    assert {a["title"]: (a["required_entitlement"], a["available"]) for a in listed} == {
        "Packshots": ("ecommerce", False),
        "Logo": (None, True),
    }
    status, listed, _ = await catalog.call("GET", "/assets", catalog.member_of(signed))
    assert all(a["available"] for a in listed)

    # The amendment is withdrawn from the contract: the asset is refused again.
    await catalog.terms(signed, entitlements=[])
    assert (await catalog.send("GET", path, catalog.member_of(signed)))[0] == 403


async def test_an_asset_of_an_unaccepted_type_or_too_large_is_refused(catalog: Catalog) -> None:
    for data, expected in ((b"MZ\x90\x00 a program", 415), (PNG_BYTES + bytes(UPLOAD_MAX_BYTES), 413)):
        status, _, _ = await catalog.send("POST", "/assets?title=X", catalog.admin_a, data)
        assert status == expected
    assert (
        await catalog.send("POST", "/assets?title=X&required_entitlement=E%20C", catalog.admin_a, PNG_BYTES)
    )[0] == 422
    assert (await catalog.send("POST", "/assets?title=X", catalog.partner_a, PNG_BYTES))[0] == 403
    assert await catalog.admin("GET", "/assets") == []
