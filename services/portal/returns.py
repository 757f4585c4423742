"""Returns and claims: the buyer's return form on her delivered order (quantities per line, her
reason, photos), the return's page with its decision, her returns; the admin's queue (overdue
first) and her decision."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from services.portal.partner import order_page
from services.portal.problems import Problems, explain
from services.portal.web import (
    GATEWAY,
    api,
    form_of,
    form_text,
    idempotency_key,
    link,
    path_id,
    redirect,
    render,
    signed_in,
)

ROUTES = web.RouteTableDef()
MAX_PHOTOS = 5


@ROUTES.get("/{tenant}/returns")
async def returns_list(request: web.Request) -> web.Response:
    session = signed_in(request)
    answer = await api(request, "GET", "/ordering/returns", params={"limit": "200"})
    context = {"returns": answer.body if answer.ok else [], "queue": "admin" in session.roles}
    return render(request, "returns.html", context)


@ROUTES.post("/{tenant}/orders/{order_id}/return")
async def ask(request: web.Request) -> web.Response:
    """Open a return of the quantities typed, then send each photo chosen."""
    signed_in(request)
    order_id = path_id(request, "order_id")
    form = await form_of(request)
    lines = [
        {"code": name.removeprefix("return-"), "quantity": int(value)}
        for name, value in form.items()
        if name.startswith("return-") and str(value).strip().isdigit() and int(value) > 0
    ]
    body = {"lines": lines, "reason": form_text(form, "reason")}
    answer = await api(
        request, "POST", f"/ordering/orders/{order_id}/returns", json=body, headers=idempotency_key(form)
    )
    if answer.status == 404:
        raise web.HTTPNotFound
    if not answer.ok:  # the order's page holds the return form
        return await order_page(request, explain(answer), status=answer.status)
    return_id = answer.body["return_id"]
    photos = [f for f in form.getall("photos", []) if isinstance(f, web.FileField) and f.filename]  # type: ignore[attr-defined]
    refused = 0
    for photo in photos[:MAX_PHOTOS]:
        sent = await api(request, "POST", f"/ordering/returns/{return_id}/photos", data=photo.file.read())
        refused += 0 if sent.ok else 1
    notice = "return-opened" if not refused else "return-opened-photos-refused"
    return redirect(link(request, f"returns/{return_id}") + f"?notice={notice}")


async def _return_page(
    request: web.Request, problems: Problems | None = None, status: int = 200
) -> web.Response:
    session = signed_in(request)
    return_id = path_id(request, "return_id")
    answer = await api(request, "GET", f"/ordering/returns/{return_id}")
    if not answer.ok:
        raise web.HTTPNotFound
    context = {
        "claim": answer.body,
        "deciding": "admin" in session.roles and answer.body["status"] == "requested",
        "problems": problems or Problems(),
        "idempotency_key": uuid.uuid4(),
    }
    return render(request, "return.html", context, status=status)


@ROUTES.get("/{tenant}/returns/{return_id}")
async def return_page(request: web.Request) -> web.Response:
    return await _return_page(request)


@ROUTES.get("/{tenant}/returns/{return_id}/photos/{photo_id}")
async def photo(request: web.Request) -> web.StreamResponse:
    session = signed_in(request)
    return_id, photo_id = path_id(request, "return_id"), path_id(request, "photo_id")
    path = f"/ordering/returns/{return_id}/photos/{photo_id}"
    got = await request.app[GATEWAY].download(request, path, token=session.access_token)
    if got.status != 200:
        raise web.HTTPNotFound
    return web.Response(body=got.body, headers={"Content-Type": got.headers.get("Content-Type", "")})


@ROUTES.post("/{tenant}/returns/{return_id}/decide")
async def decide(request: web.Request) -> web.Response:
    signed_in(request, "admin")
    return_id = path_id(request, "return_id")
    form = await form_of(request)
    accepted = form.get("decision") == "accept"
    body: Mapping[str, Any] = {} if accepted else {"reason": form_text(form, "reason")}
    action = "accept" if accepted else "refuse"
    answer = await api(
        request, "POST", f"/ordering/returns/{return_id}/{action}", json=body, headers=idempotency_key(form)
    )
    if answer.status == 404:
        raise web.HTTPNotFound
    if not answer.ok:
        return await _return_page(request, explain(answer), status=answer.status)
    return redirect(link(request, f"returns/{return_id}") + f"?notice=return-{answer.body['status']}")
