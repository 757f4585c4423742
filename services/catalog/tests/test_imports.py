"""Bulk imports of products and of a price list's prices, from CSV or XLSX: all lines or none, with a
report naming each bad line and column."""

from __future__ import annotations

import io
import json
from typing import Any

import openpyxl
import pytest

from services.catalog.tests.conftest import IMPORT_MAX_BYTES, IMPORT_MAX_LINES, Catalog

pytestmark = pytest.mark.fast


async def send(
    catalog: Catalog, path: str, data: bytes, caller: dict[str, Any] | None = None
) -> tuple[int, Any]:
    status, body, _ = await catalog.send(
        "POST", path, caller or catalog.admin_a, data, content_type="text/csv"
    )
    return status, json.loads(body)


def xlsx(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def products(catalog: Catalog) -> dict[str, dict[str, Any]]:
    page = await catalog.admin("GET", "/products?status=all&limit=200")
    return {item["code"]: item for item in page["items"]}


async def test_a_good_csv_creates_and_updates_products_with_their_events(catalog: Catalog) -> None:
    brand = await catalog.brand("CeraVe")
    existing = await catalog.create("HYD-50", 1000, vat_rate_bp=550, names={"en": "Moisturising"})
    csv = (
        "code;name;price_minor;currency;ean;brand;name_fr;vat_rate_bp\n"
        "hyd-50;;1090;;4006381333931;cerave;Crème hydratante;\n"
        "CLN-10;Cleanser;1500;EUR;;CeraVe;Nettoyant;2000\n"
        "\n"
        "SER-30;Serum;3200;EUR;96385074;;;\n"
    ).encode()

    status, report = await send(catalog, "/imports/products", csv)

    assert status == 200, report
    assert (report["created"], report["updated"], report["unchanged"]) == (2, 1, 0)
    assert [(line["line"], line["code"], line["outcome"]) for line in report["lines"]] == [
        (2, "HYD-50", "updated"),
        (3, "CLN-10", "created"),
        (5, "SER-30", "created"),
    ]
    found = await products(catalog)
    hyd = found["HYD-50"]
    # Given cells changed; blank ones for name, currency and VAT kept what the product had.
    assert (hyd["name"], hyd["price_minor"], hyd["ean"], hyd["brand_id"], hyd["vat_rate_bp"]) == (
        existing["name"],
        1090,
        "4006381333931",
        brand,
        550,
    )
    assert hyd["names"] == {"en": "Moisturising", "fr": "Crème hydratante"}
    assert (found["CLN-10"]["brand_id"], found["SER-30"]["brand_id"], found["SER-30"]["vat_rate_bp"]) == (
        brand,
        None,
        2000,
    )
    events = [(e["type"], e["data"]["code"], e["data"]["version"]) for _, e in await catalog.events()]
    assert events == [
        ("catalog.product.created", "HYD-50", 1),
        ("catalog.product.updated", "HYD-50", 2),
        ("catalog.product.created", "CLN-10", 1),
        ("catalog.product.created", "SER-30", 1),
    ]

    # The same file again changes nothing and announces nothing.
    status, report = await send(catalog, "/imports/products", csv)
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 3)
    assert len(await catalog.events()) == 4


async def test_a_file_with_one_bad_line_changes_nothing_and_reports_that_line(catalog: Catalog) -> None:
    await catalog.create("KEEP", 1000)
    csv = (
        b"code,name,price_minor,currency\n"
        b"KEEP,Renamed,1100,EUR\n"
        b"NEW-1,New one,500,EUR\n"
        b"NEW-2,Bad price,12.50,EUR\n"
        b"NEW-3,Fine,700,EUR\n"
    )
    before = await products(catalog)

    status, problem = await send(catalog, "/imports/products", csv)

    assert status == 422, problem
    assert (
        problem["type"] == "urn:comptoir:problem:import-refused"
        and "nothing was changed" in problem["detail"]
    )
    assert [(e["line"], e["field"]) for e in problem["errors"]] == [(4, "price_minor")]
    assert "whole number" in problem["errors"][0]["message"]
    assert await products(catalog) == before
    assert len(await catalog.events()) == 1


@pytest.mark.parametrize(
    ("csv", "errors"),
    [
        ("code,name,price_minor,currency\nNEW,,1,EUR\n", [(2, "name")]),  # a new product needs a name
        ("code,name,price_minor,currency\nNEW,N,1,EURO\n", [(2, "currency")]),
        ("code,name,price_minor,currency\nbad code,N,1,EUR\n", [(2, "code")]),
        ("code,name,price_minor,currency\nA,N,1,EUR\na,N,1,EUR\n", [(3, "code")]),  # twice, in any case
        ("code,name,price_minor,currency,ean\nA,N,1,EUR,4006381333932\n", [(2, "ean")]),
        ("code,name,price_minor,currency,ean\nA,N,1,EUR,96385074\nB,N,1,EUR,96385074\n", [(3, "ean")]),
        ("code,name,price_minor,currency,brand\nA,N,1,EUR,Nobody\n", [(2, "brand")]),
        ("code,name,price_minor,currency,category_id\nA,N,1,EUR,nope\n", [(2, "category_id")]),
        ("code,name,price_minor,currency,active\nA,N,1,EUR,maybe\n", [(2, "active")]),
        ("code,name,price_minor,currency,images\nA,N,1,EUR,ftp://x\n", [(2, "images")]),
        ("code,name,price_minor,currency,name_de\nA,N,1,EUR,X\n", [(1, "name_de")]),
        ("name,price_minor,currency\nN,1,EUR\n", [(1, "code")]),
        ("code,name,price_minor,currency\nA,N,1,EUR,extra\n", [(2, "")]),
        (
            "code,name,price_minor,currency\nA,N,-5,EUR\nB,,x,EUR\n",
            [(2, "price_minor"), (3, "name"), (3, "price_minor")],
        ),
    ],
)
async def test_each_bad_cell_is_reported_with_its_line_and_column(
    catalog: Catalog, csv: str, errors: list[tuple[int, str]]
) -> None:
    status, problem = await send(catalog, "/imports/products", csv.encode())

    assert status == 422, problem
    assert [(e["line"], e["field"]) for e in problem["errors"]] == errors
    assert await catalog.product_count() == 0 and await catalog.events() == []


async def test_an_ean_taken_by_a_product_outside_the_file_is_refused_but_eans_may_swap_within_it(
    catalog: Catalog,
) -> None:
    await catalog.create("A", ean="4006381333931")
    await catalog.create("B", ean="96385074")
    await catalog.create("C")

    status, problem = await send(catalog, "/imports/products", b"code,ean\nC,4006381333931\n")
    assert status == 422 and problem["errors"][0]["field"] == "ean"

    status, report = await send(catalog, "/imports/products", b"code,ean\nA,96385074\nB,4006381333931\n")
    assert status == 200, report
    found = await products(catalog)
    assert (found["A"]["ean"], found["B"]["ean"]) == ("96385074", "4006381333931")


async def test_an_xlsx_file_imports_like_a_csv(catalog: Catalog) -> None:
    brand = await catalog.brand("Vichy")
    workbook = xlsx(
        [
            ["Code", "Name", "Price_minor", "Currency", "Brand", "Active", "EAN"],
            ["VIC-1", "Minéral 89", 2490, "EUR", "Vichy", True, 3337875597210],
            [None, None, None, None, None, None, None],
            ["VIC-2", "Old one", 990.0, "EUR", "Vichy", "non", None],
        ]
    )

    status, report = await send(catalog, "/imports/products", workbook)

    assert status == 200, report
    assert [(line["line"], line["code"]) for line in report["lines"]] == [(2, "VIC-1"), (4, "VIC-2")]
    found = await products(catalog)
    assert (found["VIC-1"]["price_minor"], found["VIC-1"]["ean"], found["VIC-1"]["brand_id"]) == (
        2490,
        "3337875597210",
        brand,
    )
    assert (found["VIC-2"]["price_minor"], found["VIC-2"]["status"]) == (990, "retired")

    status, problem = await send(
        catalog, "/imports/products", xlsx([["code", "price_minor"], ["VIC-1", 12.5]])
    )
    assert status == 422 and [(e["line"], e["field"]) for e in problem["errors"]] == [(2, "price_minor")]


async def test_files_too_large_too_long_or_unreadable_are_refused(catalog: Catalog) -> None:
    header = b"code,name,price_minor,currency\n"
    too_long = header + b"".join(b"C%d,N,1,EUR\n" % n for n in range(IMPORT_MAX_LINES + 1))
    status, problem = await send(catalog, "/imports/products", too_long)
    assert status == 422 and f"more than {IMPORT_MAX_LINES} lines" in problem["errors"][0]["message"]

    status, problem = await send(catalog, "/imports/products", header + b"x" * IMPORT_MAX_BYTES)
    assert status == 413

    for unreadable in (b"\xff\xfe\x00c\x00o", b"PK\x03\x04 not really a workbook", b"", b'code\n"unclosed\n'):
        status, problem = await send(catalog, "/imports/products", unreadable)
        assert status == 422, (unreadable, problem)
    assert await catalog.product_count() == 0


async def test_a_price_list_import_sets_and_removes_prices_all_or_nothing(catalog: Catalog) -> None:
    brand, other_brand = await catalog.brand("CeraVe"), await catalog.brand("Vichy")
    cream = await catalog.priced("CREAM", brand, 1000)
    gel = await catalog.priced("GEL", brand, 800)
    await catalog.priced("SERUM", brand, 3000)
    await catalog.priced("VICHY", other_brand, 100)
    price_list = await catalog.price_list(brand, {cream: 900, gel: 700})
    path = f"/imports/price-lists/{price_list['id']}"

    status, problem = await send(catalog, path, b"code;price_minor\nSERUM;2500\nVICHY;90\nNOPE;1\nserum;1\n")
    assert status == 422
    assert [(e["line"], e["field"]) for e in problem["errors"]] == [(3, "code"), (4, "code"), (5, "code")]
    assert len(await catalog.events("catalog.price_list.v1")) == 1

    status, report = await send(catalog, path, b"code;price_minor\nserum;2500\ncream;880\ngel;\n")

    assert status == 200, report
    assert (report["set"], report["removed"], report["price_list"]["version"]) == (2, 1, 2)
    by_code = {cream: "CREAM", gel: "GEL"}
    listed = await catalog.admin("GET", f"/price-lists/{price_list['id']}")
    assert sorted((by_code.get(p["product_id"], "SERUM"), p["price_minor"]) for p in listed["prices"]) == [
        ("CREAM", 880),
        ("SERUM", 2500),
    ]
    [_, (_, event)] = await catalog.events("catalog.price_list.v1")
    assert event["data"]["version"] == 2 and len(event["data"]["prices"]) == 2

    await catalog.admin("POST", f"/price-lists/{price_list['id']}/withdraw")
    assert (await send(catalog, path, b"code,price_minor\nCREAM,1\n"))[0] == 409


async def test_imports_are_for_admins_of_the_tenant(catalog: Catalog) -> None:
    brand = await catalog.brand()
    price_list = await catalog.price_list(brand, {})
    csv = b"code,name,price_minor,currency\nA,N,1,EUR\n"

    assert (await send(catalog, "/imports/products", csv, catalog.partner_a))[0] == 403
    assert (await send(catalog, f"/imports/price-lists/{price_list['id']}", csv, catalog.partner_a))[0] == 403
    assert (await send(catalog, f"/imports/price-lists/{price_list['id']}", csv, catalog.admin_b))[0] == 404
    assert await catalog.product_count() == 0
