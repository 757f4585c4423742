"""Registering people: a seller's team and her recruits, and a shop's customers at the counter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from services.portal.problems import Problems, explain
from services.portal.web import LOCALE, api, form_of, form_text, render, signed_in

ROUTES = web.RouteTableDef()
SELLER = "seller"
COUNTER = ("shop", "admin")


def _person(form: Mapping[str, Any], locale: str) -> dict[str, Any]:
    """The person's details of a registration form, as identity reads them (blank fields left out)."""
    person: dict[str, Any] = {"email": form_text(form, "email"), "locale": locale}
    for name in ("first_name", "last_name", "birth_date", "phone"):
        if form_text(form, name):
            person[name] = form_text(form, name)
    address = {name: form_text(form, name) for name in ("line1", "line2", "postal_code", "city", "country")}
    if address["line1"] or address["city"]:
        person["address"] = {k: v or None for k, v in address.items()} | {
            "country": address["country"].upper()
        }
    return person


def _activation(form: Mapping[str, Any], default_channel: str) -> dict[str, str]:
    """How the new account's owner gets her activation: by SMS or email, a link or a code to type."""
    channel = form_text(form, "activation_channel")
    return {
        "activation_channel": channel if channel in ("sms", "email") else default_channel,
        "activation_method": "code" if form_text(form, "activation_method") == "code" else "link",
    }


@ROUTES.get("/{tenant}/team")
async def team(request: web.Request) -> web.Response:
    return await _team_page(request)


async def _team_page(
    request: web.Request, problems: Problems | None = None, form: Any = None, created: Any = None
) -> web.Response:
    signed_in(request, SELLER)
    members = await api(request, "GET", "/identity/accounts/me/team")
    context = {
        "members": members.body if members.ok else [],
        "problems": problems or Problems(),
        "form": form or {},
        "created": created,
    }
    return render(request, "team.html", context, status=422 if problems else 200)


@ROUTES.post("/{tenant}/team")
async def register_recruit(request: web.Request) -> web.Response:
    signed_in(request, SELLER)
    form = await form_of(request)
    body = _person(form, request[LOCALE]) | _activation(form, default_channel="sms")
    answer = await api(request, "POST", "/identity/accounts/me/team", json=body)
    if not answer.ok:
        return await _team_page(request, explain(answer), form)
    return await _team_page(request, created=answer.body)


@ROUTES.get("/{tenant}/counter")
async def counter(request: web.Request) -> web.Response:
    return await _counter_page(request)


async def _counter_page(
    request: web.Request, problems: Problems | None = None, form: Any = None, created: Any = None
) -> web.Response:
    signed_in(request, *COUNTER)
    context = {
        "problems": problems or Problems(),
        "form": form or {},
        "created": created,
        "voucher_redeemed": False,
    }
    return render(request, "counter.html", context, status=422 if problems else 200)


@ROUTES.post("/{tenant}/counter")
async def register_customer(request: web.Request) -> web.Response:
    signed_in(request, *COUNTER)
    form = await form_of(request)
    body = _person(form, request[LOCALE])
    if form_text(form, "card_number"):
        body["card_number"] = form_text(form, "card_number")
    body |= _activation(form, default_channel="email")
    answer = await api(request, "POST", "/identity/accounts/customers", json=body)
    if not answer.ok:
        return await _counter_page(request, explain(answer), form)
    return await _counter_page(request, created=answer.body)
