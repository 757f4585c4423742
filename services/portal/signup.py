"""A merchant signs up for a space of her own (outside any tenant), then confirms it from the link
emailed to her, and signs in to it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.portal.problems import Problems, explain
from services.portal.web import GATEWAY, LOCALE, form_of, form_text, redirect, render

ROUTES = web.RouteTableDef()


@ROUTES.get("/merchants/sign-up")
async def sign_up_page(request: web.Request) -> web.Response:
    return render(request, "merchant_sign_up.html", {"problems": Problems(), "form": {}})


@ROUTES.post("/merchants/sign-up")
async def sign_up(request: web.Request) -> web.Response:
    form = await form_of(request)
    body: dict[str, Any] = {
        name: form_text(form, name) for name in ("tenant_id", "name", "display_name", "email")
    } | {"password": str(form.get("password", "")), "locale": request[LOCALE]}
    answer = await request.app[GATEWAY].call(request, "POST", "/identity/merchants", json=body)
    if not answer.ok:
        context = {"problems": explain(answer), "form": form}
        return render(request, "merchant_sign_up.html", context, status=answer.status)
    return render(request, "merchant_sign_up_sent.html", {"email": body["email"]})


@ROUTES.get("/merchants/sign-up/{token}")
async def confirm_page(request: web.Request) -> web.Response:
    """A page with a button, not an action: mail scanners that open the link create nothing."""
    context = {"problems": Problems(), "token": request.match_info["token"]}
    return render(request, "merchant_confirm.html", context)


@ROUTES.post("/merchants/sign-up/{token}")
async def confirm(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    answer = await request.app[GATEWAY].call(
        request, "POST", "/identity/merchants/confirmations", json={"token": token}
    )
    if not answer.ok:
        context = {"problems": explain(answer), "token": token}
        return render(request, "merchant_confirm.html", context, status=answer.status)
    return redirect(f"/{answer.body['tenant_id']}/sign-in?notice=space-created")
