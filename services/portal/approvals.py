"""Approval's screens: the validator's "to approve" list with its search, and her decision on an
order (approve, refuse with a reason, modify then approve). An organisation's policy is set on the
admin's organisation page."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from services.portal import i18n
from services.portal.partner import order_page
from services.portal.problems import Problems, explain
from services.portal.web import api, form_of, idempotency_key, link, path_id, redirect, render, signed_in

ROUTES = web.RouteTableDef()
DECIDERS = ("validator", "admin")
SEARCH = ("reference", "account_id", "since", "until")
_QUANTITY = re.compile(r"quantity-(.+)")


@ROUTES.get("/{tenant}/approvals")
async def to_approve(request: web.Request) -> web.Response:
    signed_in(request, *DECIDERS)
    asked = {name: request.query.get(name, "").strip() for name in SEARCH}
    params = {"status": "awaiting_approval", "limit": "200"} | {k: v for k, v in asked.items() if v}
    answer = await api(request, "GET", "/ordering/orders", params=params)
    problems = explain(answer) if not answer.ok else Problems()
    context = {"orders": answer.body if answer.ok else [], "asked": asked, "problems": problems}
    return render(request, "approvals.html", context, status=200 if answer.ok else 422)


def _version(form: Mapping[str, Any]) -> int:
    version = str(form.get("version", ""))
    return int(version) if version.isdigit() else 0


def modification(form: Mapping[str, Any], version: int) -> dict[str, Any]:
    """The API's modification from the decision form: each line's quantity (0 leaves it out) and the
    delivery day."""
    lines = []
    for name, value in form.items():
        match = _QUANTITY.fullmatch(name)
        text = str(value).strip()
        if match and text.isdigit() and int(text) > 0:
            lines.append({"code": match[1], "quantity": int(text)})
    body: dict[str, Any] = {"version": version, "lines": lines or None}
    if str(form.get("delivery_date", "")).strip():
        body["delivery_date"] = str(form["delivery_date"]).strip()
    return body


@ROUTES.post("/{tenant}/orders/{order_id}/decide")
async def decide(request: web.Request) -> web.Response:
    """Approve, refuse (with the reason) or modify then approve, at the version the page showed: a
    decision made meanwhile by someone else answers with the order as it now is."""
    signed_in(request, *DECIDERS)
    order_id = path_id(request, "order_id")
    form = await form_of(request)
    version, decision = _version(form), form.get("decision")
    path = f"/ordering/orders/{order_id}"
    key = idempotency_key(form)
    if decision == "refuse":
        reason = str(form.get("reason", "")).strip()
        if not reason:
            problems = Problems()
            problems.add(i18n.gettext("Say why the order is refused."), "reason")
            return await order_page(request, problems, status=422)
        answer = await api(
            request, "POST", f"{path}/refuse", json={"version": version, "reason": reason}, headers=key
        )
        notice = "refused"
    else:
        if decision == "modify":
            changed = await api(
                request, "POST", f"{path}/modify", json=modification(form, version), headers=key
            )
            if not changed.ok:
                return await _refused(request, changed)
            version = changed.body["version"]
            key = {"Idempotency-Key": f"{key['Idempotency-Key']}-approve"} if key else {}
        answer = await api(request, "POST", f"{path}/approve", json={"version": version}, headers=key)
        notice = "approved"
    if not answer.ok:
        return await _refused(request, answer)
    return redirect(link(request, f"orders/{order_id}") + f"?notice={notice}")


async def _refused(request: web.Request, answer: Any) -> web.Response:
    if answer.status == 404:
        raise web.HTTPNotFound
    return await order_page(request, explain(answer), status=answer.status)
