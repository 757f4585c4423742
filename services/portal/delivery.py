"""Delivery's screens: the admin's checkout settings, closed days, pick-up points and the addresses
buyers asked to keep; an organisation's address book (its validators', or an admin's)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from services.portal import i18n
from services.portal.checkout import ADDRESS_FIELDS
from services.portal.problems import Problems, explain
from services.portal.web import (
    api,
    as_id,
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
ADMIN = "admin"
CURRENCY = "EUR"  # settings amounts are minor units; they are typed and shown with two decimals


def _money(form: Mapping[str, Any], name: str) -> int | str | None:
    """An amount typed the reader's way, in minor units; the text itself when it is none (the API
    then names the field)."""
    text = form_text(form, name)
    if not text:
        return None
    parsed = i18n.parse_money(text, CURRENCY)
    return parsed if parsed is not None else text


def _whole(form: Mapping[str, Any], name: str, default: int) -> int | str:
    text = form_text(form, name)
    return int(text) if text.isdigit() else (text or default)


def settings_request(form: Mapping[str, Any]) -> dict[str, Any]:
    """The API's checkout settings from the admin's form."""
    rate = i18n.parse_percent(form_text(form, "delivery_vat_rate"))
    costs_rate = i18n.parse_percent(form_text(form, "cancellation_costs_rate") or "0")
    codes = [code.strip() for code in form_text(form, "fee_product_codes").replace(";", ",").split(",")]
    body: dict[str, Any] = {
        "lead_time_days": _whole(form, "lead_time_days", 0),
        "payment_modes": form.getall("payment_modes", []),  # type: ignore[attr-defined]
        "delivery_fee_minor": _money(form, "delivery_fee") or 0,
        "delivery_vat_rate_bp": rate if rate is not None else form_text(form, "delivery_vat_rate"),
        "free_delivery_from_minor": _money(form, "free_delivery_from"),
        "fee_product_codes": [code for code in codes if code],
        "quote_minutes": _whole(form, "quote_minutes", 15),
        "eligible_includes_vat": form.get("eligible_includes_vat") == "on",
        "terms_version": form_text(form, "terms_version") or None,
        "terms_url": form_text(form, "terms_url") or None,
        "cancellation_costs_minor": _money(form, "cancellation_costs") or 0,
        "cancellation_costs_bp": costs_rate
        if costs_rate is not None
        else form_text(form, "cancellation_costs_rate"),
    }
    return body


def closed_days_request(text: str) -> tuple[dict[str, Any], list[str]]:
    """`2026-12-25 Christmas` per line → the API's body, and the lines that are no such thing."""
    days, wrong = [], []
    for line in text.splitlines():
        day, _, label = line.strip().partition(" ")
        if not day:
            continue
        if len(day) != 10 or day[4] != "-" or day[7] != "-":
            wrong.append(line.strip())
            continue
        days.append({"day": day, "label": label.strip()})
    return {"days": days}, wrong


async def _checkout_page(
    request: web.Request, problems: Problems | None = None, form: Mapping[str, Any] | None = None
) -> web.Response:
    signed_in(request, ADMIN)
    settings = await api(request, "GET", "/ordering/checkout/settings")
    closed = await api(request, "GET", "/ordering/checkout/closed-days")
    points = await api(request, "GET", "/ordering/pickup-points")
    asked = await api(request, "GET", "/ordering/address-requests")
    catalog_settings = await api(request, "GET", "/catalog/settings")
    context = {
        "seller_discount_bp": catalog_settings.body["seller_discount_bp"] if catalog_settings.ok else 0,
        "settings": settings.body if settings.ok else {},
        "closed_text": (form or {}).get("closed_days")
        or "\n".join(f"{d['day']} {d['label']}".strip() for d in (closed.body["days"] if closed.ok else [])),
        "points": points.body if points.ok else [],
        "requests": asked.body if asked.ok else [],
        "problems": problems or Problems(),
        "idempotency_key": uuid.uuid4(),
        "currency": CURRENCY,
    }
    return render(request, "admin/checkout.html", context, status=422 if problems else 200)


@ROUTES.get("/{tenant}/admin/checkout")
async def checkout_settings(request: web.Request) -> web.Response:
    return await _checkout_page(request)


@ROUTES.post("/{tenant}/admin/checkout")
async def save_checkout_settings(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    answer = await api(request, "PUT", "/ordering/checkout/settings", json=settings_request(form))
    if not answer.ok:
        return await _checkout_page(request, explain(answer))
    return redirect(link(request, "admin/checkout") + "?notice=saved")


@ROUTES.post("/{tenant}/admin/checkout/seller-discount")
async def save_seller_discount(request: web.Request) -> web.Response:
    """The catalog's seller discount: what a seller's own orders take off every price."""
    signed_in(request, ADMIN)
    form = await form_of(request)
    rate = i18n.parse_percent(form_text(form, "seller_discount"))
    body = {"seller_discount_bp": rate if rate is not None else form_text(form, "seller_discount")}
    answer = await api(request, "PUT", "/catalog/settings", json=body)
    if not answer.ok:
        return await _checkout_page(request, explain(answer), form)
    return redirect(link(request, "admin/checkout") + "?notice=saved")


@ROUTES.post("/{tenant}/admin/checkout/closed-days")
async def save_closed_days(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    body, wrong = closed_days_request(form_text(form, "closed_days"))
    problems = Problems()
    for line in wrong:
        problems.add(
            f"{line}: " + i18n.gettext("write the day as 2026-12-25, then its label."), "closed_days"
        )
    if not problems:
        answer = await api(request, "PUT", "/ordering/checkout/closed-days", json=body)
        if answer.ok:
            return redirect(link(request, "admin/checkout") + "?notice=saved")
        problems = explain(answer)
        problems.fields = {"closed_days": "; ".join(problems.fields.values())} if problems.fields else {}
    return await _checkout_page(request, problems, form)


def _address(form: Mapping[str, Any]) -> dict[str, str]:
    address = {name: form_text(form, name) for name in ("label", *ADDRESS_FIELDS)}
    address["country"] = address["country"].upper() or "FR"
    return address


@ROUTES.post("/{tenant}/admin/checkout/pickup-points")
async def add_pickup_point(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    body = {"name": form_text(form, "name"), "address": _address(form)}
    answer = await api(request, "POST", "/ordering/pickup-points", json=body, headers=idempotency_key(form))
    if not answer.ok:
        return await _checkout_page(request, explain(answer), form)
    return redirect(link(request, "admin/checkout") + "?notice=saved")


@ROUTES.post("/{tenant}/admin/checkout/pickup-points/{pickup_point_id}/withdraw")
async def withdraw_pickup_point(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    point_id = path_id(request, "pickup_point_id")
    await api(request, "DELETE", f"/ordering/pickup-points/{point_id}")
    return redirect(link(request, "admin/checkout") + "?notice=saved")


@ROUTES.post("/{tenant}/admin/checkout/address-requests/{request_id}")
async def decide_address_request(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    request_id = path_id(request, "request_id")
    form = await form_of(request)
    if form.get("decision") == "accept":
        path = f"/ordering/address-requests/{request_id}/accept"
        answer = await api(request, "POST", path, headers=idempotency_key(form))
    else:
        answer = await api(request, "DELETE", f"/ordering/address-requests/{request_id}")
    if not answer.ok and answer.status != 404:
        return await _checkout_page(request, explain(answer))
    return redirect(link(request, "admin/checkout") + "?notice=saved")


# --- address books ---


async def _book_page(
    request: web.Request, problems: Problems | None = None, form: Mapping[str, Any] | None = None
) -> web.Response:
    session = signed_in(request)
    asked = request.query.get("organisation_id", "")
    organisation = str(as_id(asked)) if asked and ADMIN in session.roles else None
    params = {"organisation_id": organisation} if organisation else {}
    book = await api(request, "GET", "/ordering/addresses", params=params)
    context = {
        "book": book.body if book.ok else [],
        "organisation_id": organisation,
        "may_edit": bool(session.roles & {"admin", "validator", "seller", "customer"}),
        "chosen": form or {},
        "problems": problems or Problems(),
        "idempotency_key": uuid.uuid4(),
    }
    return render(request, "addresses.html", context, status=422 if problems else 200)


@ROUTES.get("/{tenant}/addresses")
async def address_book(request: web.Request) -> web.Response:
    return await _book_page(request)


def _back(request: web.Request, form: Mapping[str, Any]) -> str:
    organisation = form_text(form, "organisation_id")
    return link(request, "addresses") + (f"?organisation_id={organisation}&" if organisation else "?")


@ROUTES.post("/{tenant}/addresses")
async def add_address(request: web.Request) -> web.Response:
    signed_in(request)
    form = await form_of(request)
    body: dict[str, Any] = {"address": _address(form), "is_default": form.get("is_default") == "on"}
    if form_text(form, "organisation_id"):
        body["organisation_id"] = form_text(form, "organisation_id")
    answer = await api(request, "POST", "/ordering/addresses", json=body, headers=idempotency_key(form))
    if not answer.ok:
        return await _book_page(request, explain(answer).unnested("address"), form)
    return redirect(_back(request, form) + "notice=saved")


@ROUTES.post("/{tenant}/addresses/{address_id}")
async def change_address(request: web.Request) -> web.Response:
    """Make an address the default, or remove it."""
    signed_in(request)
    address_id = path_id(request, "address_id")
    form = await form_of(request)
    if form.get("action") == "delete":
        answer = await api(request, "DELETE", f"/ordering/addresses/{address_id}")
    else:
        book = await api(request, "GET", "/ordering/addresses", params=_owner_params(form))
        entry = next((e for e in (book.body if book.ok else []) if e["address_id"] == address_id), None)
        if entry is None:
            raise web.HTTPNotFound
        body = {"address": entry["address"], "is_default": True}
        answer = await api(request, "PUT", f"/ordering/addresses/{address_id}", json=body)
    if answer.status == 404:
        raise web.HTTPNotFound
    if not answer.ok:
        return await _book_page(request, explain(answer))
    return redirect(_back(request, form) + "notice=saved")


def _owner_params(form: Mapping[str, Any]) -> dict[str, str]:
    organisation = form_text(form, "organisation_id")
    return {"organisation_id": organisation} if organisation else {}
