"""The partner's and customer's screens: catalog, quick order, orders, documents and points."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from babel.dates import format_date

from libs.common.clock import utc_now
from services.portal import i18n
from services.portal.charts import Bar, bar_chart
from services.portal.i18n import N_
from services.portal.problems import Problems, explain
from services.portal.web import (
    GATEWAY,
    LOCALE,
    api,
    form_of,
    form_text,
    idempotency_key,
    link,
    path_id,
    redirect,
    render,
    signed_in,
    tenant_of,
)

ROUTES = web.RouteTableDef()
PAGE_SIZE = 24
MAX_QUICK_LINES = 200
_QUICK_LINE = re.compile(r"^\s*(?P<code>[^\s;,]+)(?:[\s;,\t]+(?P<quantity>\S+))?\s*$")


@dataclass
class Category:
    id: str
    name: str
    children: list[Category] = field(default_factory=list)


def category_tree(categories: list[dict[str, Any]], locale: str) -> list[Category]:
    """The categories as a tree, each named in the reader's language (else any of its names)."""
    nodes = {
        c["id"]: Category(c["id"], c["names"].get(locale) or next(iter(c["names"].values()), ""))
        for c in categories
    }
    roots: list[Category] = []
    for c in categories:
        parent = nodes.get(c["parent_id"]) if c["parent_id"] else None
        (parent.children if parent else roots).append(nodes[c["id"]])
    for node in nodes.values():
        node.children.sort(key=lambda n: n.name.lower())
    return sorted(roots, key=lambda n: n.name.lower())


@ROUTES.get("/{tenant}/catalog")
async def catalog(request: web.Request) -> web.Response:
    signed_in(request)
    query = {
        name: request.query[name]
        for name in ("q", "category_id", "brand_id", "after")
        if request.query.get(name)
    }
    params = query | {"limit": str(PAGE_SIZE), "locale": request[LOCALE]}
    products = await api(request, "GET", "/catalog/products", params=params)
    categories = await api(request, "GET", "/catalog/categories")
    brands = await api(request, "GET", "/catalog/brands")
    problems = Problems() if products.ok else explain(products)
    context = {
        "products": products.body["items"] if products.ok else [],
        "next_after": products.body["next_after"] if products.ok else None,
        "categories": category_tree(categories.body if categories.ok else [], request[LOCALE]),
        "brands": brands.body if brands.ok else [],
        "filters": query,
        "first_page": urlencode({k: v for k, v in query.items() if k != "after"})
        if "after" in query
        else None,
        "next_page": urlencode(query | {"after": products.body["next_after"]})
        if products.ok and products.body["next_after"]
        else None,
        "problems": problems,
    }
    return render(request, "catalog.html", context, status=200 if products.ok else products.status)


@ROUTES.get("/{tenant}/catalog/{product_id}")
async def product(request: web.Request) -> web.Response:
    signed_in(request)
    product_id = path_id(request, "product_id")
    answer = await api(request, "GET", f"/catalog/products/{product_id}", params={"locale": request[LOCALE]})
    if not answer.ok:
        raise web.HTTPNotFound
    return render(request, "product.html", {"product": answer.body, "idempotency_key": uuid.uuid4()})


@dataclass
class QuickLine:
    """One pasted line: what was typed, what it asks for, and what is wrong with it."""

    number: int
    text: str
    code: str = ""
    quantity: int = 0
    error: str | None = None
    checked: bool = False  # the API looked at it (lines are sent only when all are understood)


def read_quick_order(text: str) -> list[QuickLine]:
    """`CODE QTY` per line (quantity 1 when left out; blank lines skipped); a line that is not
    understood carries its error."""
    lines: list[QuickLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        line = QuickLine(number=number, text=raw.strip())
        match = _QUICK_LINE.match(raw)
        if match is None:
            line.error = N_("Write a code, then a quantity.")
        else:
            line.code = match["code"]
            quantity = match["quantity"] or "1"
            if not quantity.isdigit() or int(quantity) < 1:
                line.error = N_("The quantity must be a whole number from 1.")
            else:
                line.quantity = int(quantity)
        lines.append(line)
    return lines


async def _terms_version(request: web.Request) -> str | None:
    """The terms of sale a quick order accepts, when the tenant has some."""
    options = await api(request, "GET", "/ordering/checkout")
    return options.body.get("terms_version") if options.ok else None


@ROUTES.get("/{tenant}/quick-order")
async def quick_order_page(request: web.Request) -> web.Response:
    signed_in(request)
    context = {
        "text": request.query.get("lines", ""),
        "lines": [],
        "problems": Problems(),
        "idempotency_key": uuid.uuid4(),
        "terms_version": await _terms_version(request),
    }
    return render(request, "quick_order.html", context)


@ROUTES.post("/{tenant}/quick-order")
async def quick_order(request: web.Request) -> web.Response:
    signed_in(request)
    form = await form_of(request)
    text = str(form.get("lines", ""))
    if form.get("code"):  # "Order now" on a product's page
        text = f"{form['code']} {form.get('quantity', '1')}"
    lines = read_quick_order(text)
    for line in lines:
        line.error = i18n.gettext(line.error) if line.error else None
    problems = Problems()
    if not lines:
        problems.add(i18n.gettext("Paste at least one line: a code, then a quantity."), "lines")
    elif len(lines) > MAX_QUICK_LINES:
        problems.add(i18n.gettext("At most {count} lines at once.").format(count=MAX_QUICK_LINES), "lines")
    elif not any(line.error for line in lines):
        body = {
            "lines": [{"code": line.code, "quantity": line.quantity} for line in lines],
            "accept_terms": form.get("accept_terms") == "on",
        }
        answer = await api(request, "POST", "/ordering/orders", json=body, headers=idempotency_key(form))
        if answer.ok:
            return redirect(link(request, f"orders/{answer.body['order_id']}") + "?notice=order-submitted")
        problems = explain(answer)
        for line in lines:
            line.checked = True
        for name, message in list(problems.fields.items()):
            position = re.fullmatch(r"lines\.(\d+)\.\w+", name)
            if position and int(position[1]) < len(lines):
                lines[int(position[1])].error = message
                del problems.fields[name]
    context = {
        "text": text,
        "lines": lines,
        "problems": problems,
        "idempotency_key": uuid.uuid4(),
        "terms_version": await _terms_version(request),
    }
    return render(request, "quick_order.html", context, status=422)


@ROUTES.get("/{tenant}/orders")
async def orders(request: web.Request) -> web.Response:
    signed_in(request)
    answer = await api(request, "GET", "/ordering/orders", params={"limit": "100"})
    return render(request, "orders.html", {"orders": answer.body if answer.ok else []})


PENDING_WAIT_S = 2


async def order_page(
    request: web.Request, problems: Problems | None = None, status: int = 200
) -> web.Response:
    signed_in(request)
    order_id = path_id(request, "order_id")
    # An order just placed and paid partly with loyalty is pending for a moment: wait for it a little.
    answer = await api(
        request, "GET", f"/ordering/orders/{order_id}", headers={"Prefer": f"wait={PENDING_WAIT_S}"}
    )
    if not answer.ok:
        raise web.HTTPNotFound
    claims = await api(request, "GET", "/ordering/returns", params={"order_id": str(order_id)})
    checkout = answer.body["checkout"]
    in_parts = checkout is not None and checkout["choices"]["payment_mode"] == "instalments"
    parts = await api(request, "GET", f"/ordering/orders/{order_id}/instalments") if in_parts else None
    context = {
        "instalments": parts.body if parts is not None and parts.ok else [],
        "order": answer.body,
        "returns": claims.body if claims.ok else [],
        "idempotency_key": uuid.uuid4(),
        "problems": problems or Problems(),
    }
    return render(request, "order.html", context, status=status)


@ROUTES.get("/{tenant}/orders/{order_id}")
async def order(request: web.Request) -> web.Response:
    return await order_page(request)


@ROUTES.post("/{tenant}/orders/{order_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    """Cancel at the version the page showed: a decision made meanwhile answers with the order as it is."""
    signed_in(request)
    order_id = path_id(request, "order_id")
    form = await form_of(request)
    version = str(form.get("version", ""))
    body = {"version": int(version)} if version.isdigit() else {}
    answer = await api(
        request, "POST", f"/ordering/orders/{order_id}/cancel", json=body, headers=idempotency_key(form)
    )
    if answer.status == 404:
        raise web.HTTPNotFound
    if not answer.ok:
        return await order_page(request, explain(answer), status=answer.status)
    return redirect(link(request, f"orders/{order_id}") + "?notice=cancelled")


def points_per_month(
    entries: list[dict[str, Any]], time_zone: str, today: date, months: int = 6
) -> list[Bar]:
    """Points earned in each of the last `months` months (in the tenant's time zone), oldest first."""
    zone = ZoneInfo(time_zone)
    firsts = []
    year, month = today.year, today.month
    for _ in range(months):
        firsts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    earned = dict.fromkeys(firsts, 0)
    for entry in entries:
        if entry["kind"] != "earn":
            continue
        day = datetime.fromisoformat(entry["created_at"]).astimezone(zone).date().replace(day=1)
        if day in earned:
            earned[day] += entry["points"]
    return [
        Bar(format_date(first, "MMM yyyy", locale=i18n.current_locale()), earned[first])
        for first in reversed(firsts)
    ]


@ROUTES.get("/{tenant}/points")
async def points(request: web.Request) -> web.Response:
    return await points_page(request)


async def points_page(
    request: web.Request,
    problems: Problems | None = None,
    form: Mapping[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    """Her points, card, rewards, codes and gift cards, with the gift card purchase form; back from
    the payment provider (`?payment=` names the purchase), how the payment went."""
    signed_in(request)
    account = await api(request, "GET", "/loyalty/accounts/me")
    ledger = await api(request, "GET", "/loyalty/accounts/me/ledger", params={"limit": "500"})
    # Her own points: sponsor points (her team's orders) have their page.
    entries = [entry for entry in (ledger.body if ledger.ok else []) if entry.get("pot") != "sponsor"]
    zone = tenant_of(request).time_zone
    today = utc_now().astimezone(ZoneInfo(zone)).date()
    chart = bar_chart(
        points_per_month(entries, zone, today),
        title=i18n.gettext("Points earned per month"),
        shown=i18n.number,
    )
    card = await api(request, "GET", "/loyalty/accounts/me/card")
    rewards = await api(request, "GET", "/loyalty/rewards")
    vouchers = await api(request, "GET", "/loyalty/vouchers")
    gift_cards = await api(request, "GET", "/loyalty/gift-cards")
    came_back = None
    if back := request.query.get("payment"):
        bought = await api(request, "GET", f"/loyalty/gift-cards/purchases/{quote(back, safe='')}")
        came_back = bought.body if bought.ok else None
    context = {
        "came_back": came_back,
        "problems": problems or Problems(),
        "amount": form_text(form, "amount") if form else "",
        "for_card": form_text(form, "for_card") if form else "",
        "gift_cards": gift_cards.body if gift_cards.ok else [],
        "rewards": rewards.body if rewards.ok else [],
        "vouchers": vouchers.body if vouchers.ok else [],
        "idempotency_key": uuid.uuid4(),
        "balance": account.body["balance"] if account.ok else 0,
        "entries": entries,
        "chart": chart,
        "card_number": card.body["card_number"] if card.ok else None,
    }
    return render(request, "points.html", context, status=status)


@ROUTES.get("/{tenant}/documents")
async def documents(request: web.Request) -> web.Response:
    signed_in(request)
    brands = await api(request, "GET", "/catalog/brands")
    shelves = []
    for brand in brands.body if brands.ok else []:
        listed = await api(request, "GET", f"/catalog/brands/{brand['id']}/documents")
        shelves.append(
            {
                "brand": brand,
                "documents": listed.body["documents"] if listed.ok else [],
                "refused": listed.status == 403,
            }
        )
    assets = await api(request, "GET", "/catalog/assets")
    return render(request, "documents.html", {"shelves": shelves, "assets": assets.body if assets.ok else []})


_FILES = {
    "documents": "/catalog/documents/{id}/file",
    "assets": "/catalog/assets/{id}/file",
    "price-list": "/catalog/brands/{id}/price-list.xlsx",
}


@ROUTES.get("/{tenant}/files/{kind}/{file_id}")
async def download(request: web.Request) -> web.StreamResponse:
    """A file of the API handed to the browser, or a page saying why not (a missing entitlement)."""
    session = signed_in(request)
    template = _FILES.get(request.match_info["kind"])
    if template is None:
        raise web.HTTPNotFound
    path = template.format(id=path_id(request, "file_id"))
    got = await request.app[GATEWAY].download(request, path, token=session.access_token)
    if got.status == 200:
        return web.Response(body=got.body, headers=dict(got.headers))
    if got.status == 403:
        return render(request, "error.html", {"reason": "entitlement"}, status=403)
    raise web.HTTPNotFound
