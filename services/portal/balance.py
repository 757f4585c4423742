"""Card payments' screens: the account balance (what it holds, its moves and card top-ups, the top-up
form sending the buyer to the payment provider's page and back), paying an instalment of an order
the same way, and the admin's instalments whose charges failed."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from services.portal import i18n
from services.portal.partner import order_page
from services.portal.problems import Problems, explain
from services.portal.web import (
    PUBLIC_URL,
    api,
    form_of,
    form_text,
    idempotency_key,
    link,
    path_id,
    render,
    signed_in,
)

ROUTES = web.RouteTableDef()
BUYERS = ("partner", "validator", "seller", "customer")
CURRENCY = "EUR"


async def _page(
    request: web.Request,
    problems: Problems | None = None,
    form: Mapping[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    signed_in(request, *BUYERS)
    answer = await api(request, "GET", "/ordering/balance", params={"limit": "100"})
    if not answer.ok:
        raise web.HTTPServiceUnavailable
    held = answer.body
    back = request.query.get("payment")  # the provider sends the buyer back naming the payment
    context = {
        "held": held,
        "currency": held["currency"] or CURRENCY,
        "came_back": next((p for p in held["top_ups"] if p["payment_id"] == back), None),
        "amount": form_text(form, "amount") if form else "",
        "problems": problems or Problems(),
        "idempotency_key": uuid.uuid4(),
    }
    return render(request, "balance.html", context, status=status)


@ROUTES.get("/{tenant}/balance")
async def balance(request: web.Request) -> web.Response:
    return await _page(request)


@ROUTES.post("/{tenant}/orders/{order_id}/instalments/pay")
async def pay_instalment(request: web.Request) -> web.Response:
    """Send the buyer to the provider's page for the instalment waiting for her, and back to the order."""
    signed_in(request, *BUYERS)
    order_id = path_id(request, "order_id")
    form = await form_of(request)
    body = {"return_url": request.app[PUBLIC_URL] + link(request, f"orders/{order_id}")}
    path = f"/ordering/orders/{order_id}/instalments/pay"
    answer = await api(request, "POST", path, json=body, headers=idempotency_key(form))
    if answer.status == 404:
        raise web.HTTPNotFound
    if not answer.ok:
        return await order_page(request, explain(answer), status=answer.status)
    return _to_provider(answer.body)


@ROUTES.get("/{tenant}/admin/instalments")
async def flagged_instalments(request: web.Request) -> web.Response:
    signed_in(request, "admin")
    answer = await api(request, "GET", "/ordering/instalments", params={"status": "flagged"})
    return render(request, "instalments.html", {"instalments": answer.body if answer.ok else []})


@ROUTES.post("/{tenant}/balance/top-up")
async def top_up(request: web.Request) -> web.Response:
    """Start a top-up and send the buyer to the provider's page."""
    signed_in(request, *BUYERS)
    form = await form_of(request)
    typed = form_text(form, "amount")
    amount = i18n.parse_money(typed, CURRENCY)
    body = {
        "amount_minor": amount if amount is not None else typed,
        "currency": CURRENCY,
        "return_url": request.app[PUBLIC_URL] + link(request, "balance"),
    }
    answer = await api(request, "POST", "/ordering/balance/top-ups", json=body, headers=idempotency_key(form))
    if not answer.ok:
        problems = explain(answer)
        if "amount_minor" in problems.fields:
            problems.fields["amount"] = problems.fields.pop("amount_minor")
        return await _page(request, problems, form, status=answer.status)
    return _to_provider(answer.body)


def _to_provider(started: Mapping[str, Any]) -> web.Response:
    """To the provider's page where the buyer pays (a payment the API just started)."""
    return web.Response(status=303, headers={"Location": started["redirect_url"]})
