"""Ordering statistics on the fast tier: per article, address and orderer, over a date range; an
organisation's for its members, the tenant's for its admin; the same table as CSV and XLSX."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

import openpyxl
import pytest

from services.ordering.tests.conftest import Ordering

pytestmark = pytest.mark.fast

DAY = datetime.now(UTC).date().isoformat()
HOME = {"recipient": "Pharmacie", "line1": "2 place du Marché", "postal_code": "69002", "city": "Lyon"}


@pytest.fixture
async def orders(ordering: Ordering) -> Ordering:
    """Org-1 ordered 2 mugs + 1 tea, then 1 mug to an address; org-2 ordered 5 teas; one cancelled."""
    await ordering.publish(
        ordering.product(uuid.uuid4(), "MUG", 1250), ordering.product(uuid.uuid4(), "TEA", 399)
    )
    for caller, lines, extra in (
        (ordering.partner_a, [("MUG", 2), ("TEA", 1)], {}),
        (ordering.validator_a, [("MUG", 1)], {"address": HOME}),
        (ordering.partner_a2, [("TEA", 5)], {}),
        (ordering.partner_a, [("TEA", 9)], {}),
    ):
        body = [{"code": c, "quantity": q} for c, q in lines]
        status, placed = await ordering.submit(caller, body, **extra)  # type: ignore[arg-type]
        assert status == 201, placed
    status, _, _ = await ordering.call("POST", f"/orders/{placed['order_id']}/cancel", ordering.partner_a, {})
    assert status == 200  # a cancelled order does not count
    return ordering


def rows(table: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(r["key"], r["quantity"], r["amount_minor"], r["orders"]) for r in table]


async def test_an_organisations_members_see_its_figures_per_article_orderer_and_address(
    orders: Ordering,
) -> None:
    path = f"/statistics?since={DAY}&until={DAY}"
    status, by_article, _ = await orders.call("GET", f"{path}&by=article", orders.partner_a)
    assert status == 200, by_article
    assert rows(by_article) == [("MUG", 3, 3750, 2), ("TEA", 1, 399, 1)]
    assert by_article[0]["label"] == "Product MUG"
    _, by_orderer, _ = await orders.call("GET", f"{path}&by=orderer", orders.validator_a)
    assert rows(by_orderer) == [("partner-a1", 3, 2899, 1), ("validator-a1", 1, 1250, 1)]
    _, by_address, _ = await orders.call("GET", f"{path}&by=address", orders.partner_a)
    assert rows(by_address) == [("", 3, 2899, 1), ("2 place du Marché, 69002, Lyon", 1, 1250, 1)]


async def test_the_admin_sees_the_tenant_and_other_ranges_see_nothing(orders: Ordering) -> None:
    _, everything, _ = await orders.call("GET", f"/statistics?since={DAY}&until={DAY}", orders.admin_a)
    assert rows(everything) == [("MUG", 3, 3750, 2), ("TEA", 6, 2394, 2)]
    _, earlier, _ = await orders.call("GET", "/statistics?since=2020-01-01&until=2020-12-31", orders.admin_a)
    assert earlier == []
    _, by_default, _ = await orders.call("GET", "/statistics", orders.admin_a)  # the last 30 days
    assert by_default == everything
    _, other_tenant, _ = await orders.call("GET", f"/statistics?since={DAY}&until={DAY}", orders.admin_b)
    assert other_tenant == []


async def test_a_wrong_range_is_refused_naming_it(orders: Ordering) -> None:
    for query in (
        "since=2026-02-01&until=2026-01-01",
        "since=2024-01-01&until=2026-01-01",
        "since=yesterday",
    ):
        status, problem, _ = await orders.call("GET", f"/statistics?{query}", orders.admin_a)
        assert status == 422, (query, problem)
    # A partner of no organisation sees her own orders' figures: none in tenant B.
    assert (await orders.call("GET", f"/statistics?since={DAY}&until={DAY}", orders.partner_b))[:2] == (
        200,
        [],
    )


async def test_the_same_table_as_csv_and_xlsx(orders: Ordering) -> None:
    base = orders.service.url + f"/statistics/export?since={DAY}&until={DAY}&by=article"
    headers = orders.service.tokens.headers(**orders.partner_a)
    async with orders.service.http.get(base + "&format=csv", headers=headers) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        table = list(csv.reader(io.StringIO(await resp.text())))
    assert table == [
        ["Key", "Label", "Currency", "Quantity", "Amount (minor units)", "Orders"],
        ["MUG", "Product MUG", "EUR", "3", "3750", "2"],
        ["TEA", "Product TEA", "EUR", "1", "399", "1"],
    ]
    async with orders.service.http.get(base + "&format=xlsx", headers=headers) as resp:
        assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
        book = openpyxl.load_workbook(io.BytesIO(await resp.read()))
    values = list(book.active.iter_rows(values_only=True))
    assert values[1:] == [("MUG", "Product MUG", "EUR", 3, 3750, 2), ("TEA", "Product TEA", "EUR", 1, 399, 1)]
