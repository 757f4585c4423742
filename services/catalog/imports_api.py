"""Catalog's HTTP API for bulk imports: an admin sends a CSV or XLSX file as the raw body; a file with
any bad line changes nothing and answers 422 with one error per bad cell (line, column, message)."""

from __future__ import annotations

import asyncio
import uuid

from aiohttp import web
from pydantic import BaseModel, Field

from libs.common.api import Endpoint, owned
from libs.common.auth import principal
from libs.common.files import read_upload
from libs.common.http import json_response
from libs.common.runtime import POOL
from services.catalog import imports
from services.catalog.access import ADMIN, LIMITS, price_list_owner
from services.catalog.domain import PriceList
from services.catalog.imports import ImportRefused
from services.catalog.schemas import PriceListView
from services.catalog.spreadsheets import Table, TableError, read_table


class ImportedLineView(BaseModel):
    line: int = Field(description="The line of the file (the header is line 1)")
    code: str = Field(description="The product's code")
    product_id: uuid.UUID
    outcome: str = Field(description="created, updated or unchanged")


class ProductImportView(BaseModel):
    created: int
    updated: int
    unchanged: int
    lines: list[ImportedLineView]


class PriceImportView(BaseModel):
    set: int = Field(description="Prices the file set")
    removed: int = Field(description="Products the file removed from the list (blank price)")
    price_list: PriceListView = Field(description="The list after the import")


async def _table(request: web.Request) -> Table:
    limits = request.app[LIMITS]
    content = await read_upload(request, limits.import_max_bytes)
    try:
        # Parsing a spreadsheet is CPU work: keep it off the event loop.
        return await asyncio.to_thread(read_table, content, limits.import_max_lines)
    except TableError as exc:
        raise ImportRefused([imports.LineError(1, None, str(exc))]) from None


async def import_products(request: web.Request) -> web.Response:
    caller = principal(request)
    table = await _table(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        report = await imports.import_products(conn, caller.tenant_id, table)
    outcomes = [line.outcome for line in report.lines]
    return json_response(
        ProductImportView(
            created=outcomes.count("created"),
            updated=outcomes.count("updated"),
            unchanged=outcomes.count("unchanged"),
            lines=[ImportedLineView.model_validate(line, from_attributes=True) for line in report.lines],
        )
    )


async def import_prices(request: web.Request) -> web.Response:
    caller = principal(request)
    table = await _table(request)
    list_id = owned(request, PriceList).id
    async with request.app[POOL].acquire() as conn, conn.transaction():
        report = await imports.import_prices(conn, caller.tenant_id, list_id, table)
    return json_response(
        PriceImportView(
            set=report.set, removed=report.removed, price_list=PriceListView.of(report.price_list)
        )
    )


SPREADSHEETS = ("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

ENDPOINTS = [
    Endpoint(
        "POST",
        "/imports/products",
        import_products,
        "Create or update products from a CSV or XLSX file (raw body): all lines or none",
        roles=ADMIN,
        upload=SPREADSHEETS,
        response=ProductImportView,
    ),
    Endpoint(
        "POST",
        "/imports/price-lists/{price_list_id}",
        import_prices,
        "Set a price list's prices from a CSV or XLSX file (columns code, price_minor): all lines or none",
        roles=ADMIN,
        upload=SPREADSHEETS,
        response=PriceImportView,
        owner=price_list_owner,
    ),
]
