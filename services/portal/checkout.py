"""Checkout's screens, in two steps: the buyer's choices for her cart, then the quote to confirm
(with the terms of sale); a quote whose prices changed meanwhile shows the new one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from services.portal import i18n
from services.portal.problems import Problems, explain
from services.portal.web import (
    api,
    form_of,
    form_optional,
    form_text,
    idempotency_key,
    link,
    path_id,
    redirect,
    render,
    signed_in,
)

ROUTES = web.RouteTableDef()
ADDRESS_FIELDS = ("recipient", "line1", "line2", "postal_code", "city", "country", "phone")
CURRENCY = "EUR"


async def _choices_page(
    request: web.Request,
    form: Mapping[str, Any] | None = None,
    problems: Problems | None = None,
    status: int = 200,
) -> web.Response:
    signed_in(request)
    cart = await api(request, "GET", "/ordering/cart")
    options = await api(request, "GET", "/ordering/checkout")
    if not cart.ok or not options.ok:
        raise web.HTTPServiceUnavailable
    if not any(line["available"] for line in cart.body["lines"]):
        return redirect(link(request, "cart"))
    default = next((a["address_id"] for a in options.body["addresses"] if a["is_default"]), None)
    chosen = dict(form or {})
    chosen.setdefault("delivery", f"address:{default}" if default else "new")
    chosen.setdefault("delivery_date", options.body["earliest_delivery_date"])
    chosen.setdefault("payment_mode", options.body["payment_modes"][0])
    held = (
        await api(request, "GET", "/ordering/balance", params={"limit": "1"})
        if "account_balance" in options.body["payment_modes"]
        else None
    )
    points = await api(request, "GET", "/loyalty/accounts/me")
    context = {
        "points": points.body["balance"] if points.ok else 0,
        "sponsor_points": points.body["sponsor_balance"] if points.ok else 0,
        "balance": held.body if held is not None and held.ok else None,
        "cart": cart.body,
        "options": options.body,
        "chosen": chosen,
        "problems": problems or Problems(),
        "idempotency_key": uuid.uuid4(),
    }
    return render(request, "checkout.html", context, status=status)


@ROUTES.get("/{tenant}/checkout")
async def choices(request: web.Request) -> web.Response:
    return await _choices_page(request)


def quote_request(form: Mapping[str, Any]) -> dict[str, Any]:
    """The API's quote request from the choices form: where to deliver is one radio button (an
    address of the book, a new address, or a pick-up point)."""
    body: dict[str, Any] = {
        "reference": form_optional(form, "reference"),
        "instructions": form_optional(form, "instructions"),
        "delivery_date": form_optional(form, "delivery_date"),
        "payment_mode": form_optional(form, "payment_mode"),
        "fee_product_code": form_optional(form, "fee_product_code"),
        "points": _number(form_optional(form, "points")),
        "sponsor_points": _number(form_optional(form, "sponsor_points")),
        "gift_card_minor": _money(form_optional(form, "gift_card_amount")),
    }
    where = str(form.get("delivery", ""))
    kind, _, value = where.partition(":")
    if kind == "address":
        body["address_id"] = value
    elif kind == "pickup":
        body["pickup_point_id"] = value
    elif any(form_optional(form, name) for name in ADDRESS_FIELDS):
        address = {name: form_text(form, name) for name in ADDRESS_FIELDS}
        address["country"] = address["country"].upper() or "FR"
        body["address"] = address
        body["keep_address"] = form.get("keep_address") == "on"
    # No address typed and none chosen: the book's default, else the address the brand holds.
    return {name: value for name, value in body.items() if value is not None}


def _number(typed: str | None) -> int | str | None:
    """A whole number as typed (kept as text for the API to refuse, naming the field)."""
    if typed is None:
        return None
    return int(typed) if typed.isdigit() else typed


def _money(typed: str | None) -> int | str | None:
    if typed is None:
        return None
    amount = i18n.parse_money(typed, CURRENCY)
    return amount if amount is not None else typed


@ROUTES.post("/{tenant}/checkout")
async def ask_quote(request: web.Request) -> web.Response:
    signed_in(request)
    form = await form_of(request)
    answer = await api(
        request, "POST", "/ordering/checkout/quotes", json=quote_request(form), headers=idempotency_key(form)
    )
    if not answer.ok:
        problems = explain(answer).unnested("address")
        problems.fields = {
            ("gift_card_amount" if name == "gift_card_minor" else name): text
            for name, text in problems.fields.items()
        }
        return await _choices_page(request, form, problems, status=answer.status)
    return redirect(link(request, f"checkout/quotes/{answer.body['quote_id']}"))


async def _quote_page(
    request: web.Request, problems: Problems | None = None, status: int = 200
) -> web.Response:
    signed_in(request)
    quote_id = path_id(request, "quote_id")
    answer = await api(request, "GET", f"/ordering/checkout/quotes/{quote_id}")
    if not answer.ok:
        raise web.HTTPNotFound
    options = await api(request, "GET", "/ordering/checkout")
    context = {
        "quote": answer.body,
        "terms_url": options.body["terms_url"] if options.ok else None,
        "problems": problems or Problems(),
        "idempotency_key": uuid.uuid4(),
    }
    return render(request, "quote.html", context, status=status)


@ROUTES.get("/{tenant}/checkout/quotes/{quote_id}")
async def quote(request: web.Request) -> web.Response:
    return await _quote_page(request)


@ROUTES.get("/{tenant}/admin/sagas")
async def sagas(request: web.Request) -> web.Response:
    """The orders paid with loyalty whose saga waits on loyalty, stuck ones first flagged."""
    signed_in(request, "admin")
    answer = await api(request, "GET", "/ordering/checkout/sagas")
    return render(request, "sagas.html", {"sagas": answer.body if answer.ok else []})


@ROUTES.post("/{tenant}/checkout/quotes/{quote_id}/confirm")
async def confirm(request: web.Request) -> web.Response:
    signed_in(request)
    quote_id = path_id(request, "quote_id")
    form = await form_of(request)
    body: dict[str, Any] = {"accept_terms": form.get("accept_terms") == "on"}
    if code := form_optional(form, "code"):
        body["code"] = code
    if number := form_optional(form, "gift_card_number"):
        body["gift_card"] = {"number": number, "pin": form_text(form, "gift_card_pin")}
    answer = await api(
        request,
        "POST",
        f"/ordering/checkout/quotes/{quote_id}/confirm",
        json=body,
        headers=idempotency_key(form),
    )
    if answer.ok:
        return redirect(link(request, f"orders/{answer.body['order_id']}") + "?notice=order-placed")
    kind = answer.problem_type
    if answer.status == 409 and kind in ("quote-changed", "quote-expired"):
        fresh = answer.body["quote"]["quote_id"]
        return redirect(link(request, f"checkout/quotes/{fresh}") + f"?notice={kind}")
    if answer.status == 409 and kind == "quote-used":
        return redirect(link(request, f"orders/{answer.body['order_id']}"))
    return await _quote_page(request, explain(answer), status=answer.status)
