"""The cart's screens: what the account's cart holds, priced now, and ordering it."""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import web

from services.portal import i18n
from services.portal.partner import read_quick_order
from services.portal.problems import Problems, explain
from services.portal.web import api, form_of, idempotency_key, link, path_id, redirect, render, signed_in

ROUTES = web.RouteTableDef()
_LINE_FIELD = re.compile(r"lines\.(\d+)\.\w+")


async def _cart_page(
    request: web.Request, problems: Problems | None = None, text: str = "", status: int = 200
) -> web.Response:
    signed_in(request)
    answer = await api(request, "GET", "/ordering/cart")
    cart = answer.body if answer.ok else {"lines": [], "total_minor": 0, "currency": None}
    templates = await api(request, "GET", "/ordering/cart/templates")
    context = {
        "cart": cart,
        "templates": templates.body if templates.ok else [],
        "problems": problems or Problems(),
        "text": text,
        "idempotency_key": uuid.uuid4(),
    }
    return render(request, "cart.html", context, status=status)


@ROUTES.get("/{tenant}/cart")
async def cart(request: web.Request) -> web.Response:
    return await _cart_page(request)


@ROUTES.post("/{tenant}/cart/add")
async def add(request: web.Request) -> web.Response:
    """Lines pasted as `CODE QTY`, or one product's code and quantity (its page's button)."""
    signed_in(request)
    form = await form_of(request)
    text = str(form.get("lines", ""))
    if form.get("code"):
        text = f"{form['code']} {form.get('quantity', '1')}"
    lines = read_quick_order(text)
    problems = Problems()
    for line in lines:
        if line.error:
            problems.add(f"{line.text}: {i18n.gettext(line.error)}")
    if not lines:
        problems.add(i18n.gettext("Paste at least one line: a code, then a quantity."), "lines")
    if problems:
        return await _cart_page(request, problems, text, status=422)
    body = {"lines": [{"code": line.code, "quantity": line.quantity} for line in lines]}
    answer = await api(request, "POST", "/ordering/cart/lines", json=body, headers=idempotency_key(form))
    if answer.ok:
        return redirect(link(request, "cart") + "?notice=added")
    problems = explain(answer)
    for name, message in list(problems.fields.items()):  # each refused line, named by what was typed
        found = _LINE_FIELD.fullmatch(name)
        if found and int(found[1]) < len(lines):
            problems.add(f"{lines[int(found[1])].text}: {message}")
            del problems.fields[name]
    return await _cart_page(request, problems, text, status=answer.status)


@ROUTES.post("/{tenant}/cart")
async def change(request: web.Request) -> web.Response:
    """New quantities (0 or "remove" takes a line out), or empty the cart."""
    signed_in(request)
    form = await form_of(request)
    if form.get("action") == "empty":
        await api(request, "DELETE", "/ordering/cart")
        return redirect(link(request, "cart"))
    lines: list[dict[str, Any]] = []
    problems = Problems()
    for code, quantity in zip(form.getall("code", []), form.getall("quantity", []), strict=False):  # type: ignore[attr-defined]
        if not str(quantity).isdigit():
            problems.add(f"{code}: {i18n.gettext('The quantity must be a whole number from 1.')}")
        elif int(quantity) > 0:
            lines.append({"code": code, "quantity": int(quantity)})
    if problems:
        return await _cart_page(request, problems, status=422)
    answer = await api(request, "PUT", "/ordering/cart", json={"lines": lines})
    if not answer.ok:
        return await _cart_page(request, explain(answer), status=answer.status)
    return redirect(link(request, "cart") + "?notice=saved")


@ROUTES.post("/{tenant}/cart/remove")
async def remove(request: web.Request) -> web.Response:
    """Take one line out, the others as they are."""
    signed_in(request)
    form = await form_of(request)
    held = await api(request, "GET", "/ordering/cart")
    kept = [
        {"code": line["code"], "quantity": line["quantity"]}
        for line in (held.body["lines"] if held.ok else [])
        if line["code"] != form.get("remove")
    ]
    answer = await api(request, "PUT", "/ordering/cart", json={"lines": kept})
    if not answer.ok:
        return await _cart_page(request, explain(answer), status=answer.status)
    return redirect(link(request, "cart") + "?notice=saved")


@ROUTES.post("/{tenant}/orders/{order_id}/reorder")
async def reorder(request: web.Request) -> web.Response:
    """A past order's lines into the cart again, priced now; what cannot be ordered any more flagged."""
    signed_in(request)
    form = await form_of(request)
    order_id = path_id(request, "order_id")
    answer = await api(request, "POST", f"/ordering/orders/{order_id}/reorder", headers=idempotency_key(form))
    if answer.status == 404:
        raise web.HTTPNotFound
    if not answer.ok:
        return await _cart_page(request, explain(answer), status=answer.status)
    return redirect(link(request, "cart") + "?notice=added")


@ROUTES.post("/{tenant}/cart/templates")
async def save_template(request: web.Request) -> web.Response:
    """The cart as it is, saved under a name to load again."""
    signed_in(request)
    form = await form_of(request)
    body = {"name": str(form.get("name", "")).strip()}
    answer = await api(request, "POST", "/ordering/cart/templates", json=body, headers=idempotency_key(form))
    if not answer.ok:
        return await _cart_page(request, explain(answer), status=answer.status)
    return redirect(link(request, "cart") + "?notice=template-saved")


@ROUTES.post("/{tenant}/cart/templates/{template_id}")
async def use_template(request: web.Request) -> web.Response:
    """Load a template into the cart, or delete it."""
    signed_in(request)
    form = await form_of(request)
    path = f"/ordering/cart/templates/{path_id(request, 'template_id')}"
    if form.get("action") == "delete":
        answer = await api(request, "DELETE", path)
        notice = "template-deleted"
    else:
        answer = await api(request, "POST", f"{path}/load", headers=idempotency_key(form))
        notice = "added"
    if answer.status == 404:
        raise web.HTTPNotFound
    if not answer.ok:
        return await _cart_page(request, explain(answer), status=answer.status)
    return redirect(link(request, "cart") + f"?notice={notice}")
