"""Ordering statistics: quantities and amounts of the orders placed over a date range, per article,
per delivery address or per orderer; for an organisation (its partners and validators) or the whole
tenant (its admin); as JSON, CSV or XLSX (the same table)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import asyncpg
import xlsxwriter
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from libs.common.api import ORGANISATION, TENANT, Endpoint, grant, scope
from libs.common.clock import now
from libs.common.http import json_response, read_query
from libs.common.runtime import POOL

Axis = Literal["article", "address", "orderer"]
MAX_DAYS = 366
DEFAULT_DAYS = 30
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Orders that count: placed and not undone (awaiting approval, refused and cancelled ones do not).
COUNTED = ("confirmed", "shipped", "delivered")

# One statement per axis: the key, what people read of it, and the sums. A line taken instead of the
# delivery fee is no article bought. An address is the order's delivery address as recorded (a
# pick-up point by its name); orders without one share the empty key.
_KEYS: dict[Axis, tuple[str, str]] = {
    "article": ("l.code", "max(l.name)"),
    "address": (
        "coalesce(o.checkout #>> '{choices,pickup_point,name}',"
        " concat_ws(', ', o.checkout #>> '{choices,address,line1}',"
        " o.checkout #>> '{choices,address,postal_code}', o.checkout #>> '{choices,address,city}'))",
        "NULL",
    ),
    "orderer": ("o.account_id", "NULL"),
}
_STATISTICS = """
SELECT {key} AS key, {label} AS label, o.currency, sum(l.quantity) AS quantity,
       sum(l.line_total_minor) AS amount_minor, count(DISTINCT o.order_id) AS orders
FROM orders o JOIN order_lines l ON l.order_id = o.order_id AND NOT l.instead_of_fee
WHERE o.tenant_id = $1 AND ($2::text IS NULL OR o.organisation_id = $2)
  AND ($3::text IS NULL OR o.account_id = $3)
  AND o.status = ANY ($4::text[]) AND o.submitted_at >= $5 AND o.submitted_at < $6
GROUP BY 1, o.currency
ORDER BY amount_minor DESC, key
"""


class StatisticsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: Axis = Field("article", description="article, address (of delivery) or orderer")
    since: date | None = Field(
        None, description="From this day (UTC), included; default: 30 days before until"
    )
    until: date | None = Field(None, description="To this day (UTC), included; default: today")

    @model_validator(mode="after")
    def _a_range(self) -> StatisticsQuery:
        if self.since is not None and self.until is not None:
            if self.until < self.since:
                raise ValueError("until is before since")
            if (self.until - self.since).days >= MAX_DAYS:
                raise ValueError(f"at most {MAX_DAYS} days at once")
        return self

    def days(self, today: date) -> tuple[date, date]:
        until = self.until or today
        return self.since or until - timedelta(days=DEFAULT_DAYS), until


class ExportQuery(StatisticsQuery):
    format: Literal["csv", "xlsx"] = Field("xlsx", description="csv or xlsx")


class StatisticsRow(BaseModel):
    key: str = Field(description="The article's code, the address, or the orderer's account id")
    label: str | None = Field(description="The article's name; null for the other axes")
    currency: str
    quantity: int = Field(description="Units ordered")
    amount_minor: int = Field(description="What they cost, excluding VAT, in minor units")
    orders: int = Field(description="How many orders hold them")


class StatisticsTable(RootModel[list[StatisticsRow]]):
    """The rows, largest amount first."""


async def table(
    db: asyncpg.Pool | asyncpg.Connection,
    tenant_id: str,
    *,
    organisation_id: str | None,
    account_id: str | None,
    by: Axis,
    since: date,
    until: date,
) -> list[StatisticsRow]:
    key, label = _KEYS[by]
    start = datetime.combine(since, time(), UTC)
    end = datetime.combine(until + timedelta(days=1), time(), UTC)
    rows = await db.fetch(
        _STATISTICS.format(key=key, label=label),
        tenant_id,
        organisation_id,
        account_id,
        list(COUNTED),
        start,
        end,
    )
    return [StatisticsRow(**dict(row)) for row in rows]


HEADER = ["Key", "Label", "Currency", "Quantity", "Amount (minor units)", "Orders"]


def _cells(row: StatisticsRow) -> list[Any]:
    return [row.key, row.label or "", row.currency, row.quantity, row.amount_minor, row.orders]


def as_csv(rows: list[StatisticsRow]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(_cells(row) for row in rows)
    return out.getvalue().encode()


def as_xlsx(rows: list[StatisticsRow], title: str) -> bytes:
    out = io.BytesIO()
    with xlsxwriter.Workbook(out, {"in_memory": True}) as book:
        sheet = book.add_worksheet(title[:31])
        bold = book.add_format({"bold": True})
        sheet.write_row(0, 0, HEADER, bold)
        for number, row in enumerate(rows, start=1):
            sheet.write_row(number, 0, _cells(row))
        sheet.set_column(0, 1, 32)
    return out.getvalue()


async def _rows(request: web.Request, query: StatisticsQuery) -> list[StatisticsRow]:
    seen = scope(request)
    since, until = query.days(now(request).date())
    return await table(
        request.app[POOL],
        seen.tenant_id,
        organisation_id=seen.organisation_id,
        account_id=seen.account_id,
        by=query.by,
        since=since,
        until=until,
    )


async def statistics(request: web.Request) -> web.Response:
    return json_response(StatisticsTable(await _rows(request, read_query(request, StatisticsQuery))))


async def export_statistics(request: web.Request) -> web.Response:
    query = read_query(request, ExportQuery)
    rows = await _rows(request, query)
    since, until = query.days(now(request).date())
    name = f"orders-by-{query.by}-{since.isoformat()}-{until.isoformat()}"
    if query.format == "csv":
        body, content_type = as_csv(rows), "text/csv"
    else:
        body = await asyncio.to_thread(as_xlsx, rows, f"by {query.by}")
        content_type = XLSX_TYPE
    return web.Response(
        body=body,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{name}.{query.format}"'},
    )


READERS = grant(admin=TENANT, validator=ORGANISATION, partner=ORGANISATION)

ENDPOINTS = [
    Endpoint(
        "GET",
        "/statistics",
        statistics,
        "Quantities and amounts (excl. VAT) of the orders placed between two days, per article, delivery"
        " address or orderer: an admin's for the tenant, a partner's or validator's for her organisation,"
        " (GET /statistics/export gives the same table as a CSV or XLSX file)",
        roles=READERS,
        response=StatisticsTable,
        query=StatisticsQuery,
    ),
    Endpoint(
        "GET",
        "/statistics/export",
        export_statistics,
        "The same table as a file: ?format=csv or xlsx",
        roles=READERS,
        query=ExportQuery,
    ),
]
