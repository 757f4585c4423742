"""The back office: organisations and accounts, tenant settings, the catalog's brands, categories,
products, customer groups, price lists, terms and files, imports, the earning rule, the message log."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from services.portal import i18n
from services.portal.i18n import N_, gettext
from services.portal.problems import Problems, explain
from services.portal.web import (
    api,
    as_id,
    form_of,
    form_optional,
    form_text,
    idempotency_key,
    link,
    redirect,
    render,
    signed_in,
    tenant_of,
)

ROUTES = web.RouteTableDef()
ADMIN = "admin"
IMPORT_TYPES = {
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


async def _listing(request: web.Request, path: str, **params: str) -> Any:
    answer = await api(request, "GET", path, params=params or None)
    return answer.body if answer.ok else []


@ROUTES.get("/{tenant}/admin")
async def back_office(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    return render(request, "admin/home.html")


# --- organisations and accounts ---


@ROUTES.get("/{tenant}/admin/organisations")
async def organisations(request: web.Request) -> web.Response:
    return await _organisations_page(request)


async def _organisations_page(
    request: web.Request, problems: Problems | None = None, form: Any = None
) -> web.Response:
    signed_in(request, ADMIN)
    context = {
        "organisations": await _listing(request, "/identity/organisations"),
        "problems": problems or Problems(),
        "form": form or {},
    }
    return render(request, "admin/organisations.html", context, status=422 if problems else 200)


@ROUTES.post("/{tenant}/admin/organisations")
async def create_organisation(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    body = {"name": form_text(form, "name"), "customer_code": form_text(form, "customer_code")}
    answer = await api(request, "POST", "/identity/organisations", json=body)
    if not answer.ok:
        return await _organisations_page(request, explain(answer), form)
    return redirect(link(request, f"admin/organisations/{answer.body['organisation_id']}"))


@ROUTES.get("/{tenant}/admin/organisations/{organisation_id}")
async def organisation(request: web.Request) -> web.Response:
    return await _organisation_page(request)


async def _organisation_page(request: web.Request, problems: Problems | None = None) -> web.Response:
    signed_in(request, ADMIN)
    organisation_id = as_id(request.match_info["organisation_id"])
    found = await api(request, "GET", f"/identity/organisations/{organisation_id}")
    if not found.ok:
        raise web.HTTPNotFound
    terms = await api(request, "GET", f"/catalog/organisations/{organisation_id}/terms")
    assortment = terms.body.get("assortment") if terms.ok else None
    codes = ""
    if assortment:
        products = await api(request, "GET", "/catalog/products", params={"status": "all", "limit": "200"})
        known = {p["id"]: p["code"] for p in products.body["items"]} if products.ok else {}
        codes = " ".join(known.get(product_id, product_id) for product_id in assortment)
    policy = await api(request, "GET", f"/ordering/organisations/{organisation_id}/approval-policy")
    context = {
        "assortment_codes": codes,
        "policy": policy.body if policy.status == 200 else None,
        "organisation": found.body,
        "members": await _listing(request, f"/identity/organisations/{organisation_id}/members"),
        "terms": terms.body if terms.ok else None,
        "groups": await _listing(request, "/catalog/customer-groups"),
        "problems": problems or Problems(),
    }
    return render(request, "admin/organisation.html", context, status=422 if problems else 200)


@ROUTES.post("/{tenant}/admin/organisations/{organisation_id}/approval")
async def set_approval_policy(request: web.Request) -> web.Response:
    """The amount above which the organisation's orders wait for its validators (empty: never)."""
    signed_in(request, ADMIN)
    organisation_id = as_id(request.match_info["organisation_id"])
    form = await form_of(request)
    path = f"/ordering/organisations/{organisation_id}/approval-policy"
    text = form_text(form, "threshold")
    if not text:
        answer = await api(request, "DELETE", path)
    else:
        threshold = i18n.parse_money(text, "EUR")
        body = {"threshold_minor": threshold if threshold is not None else text}
        answer = await api(request, "PUT", path, json=body)
    if not answer.ok:
        return await _organisation_page(request, explain(answer))
    return redirect(link(request, f"admin/organisations/{organisation_id}") + "?notice=saved")


@ROUTES.post("/{tenant}/admin/organisations/{organisation_id}/terms")
async def set_terms(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    organisation_id = as_id(request.match_info["organisation_id"])
    form = await form_of(request)
    codes = [code for code in form_text(form, "assortment").split() if code]
    problems = Problems()
    assortment: list[str] | None = None
    if codes:
        assortment = []
        for code in codes:
            found = await api(request, "GET", f"/catalog/products/by-code/{code}")
            if found.ok:
                assortment.append(found.body["id"])
            else:
                problems.add(f"{code}: {gettext('Unknown product code.')}", "assortment")
    entitlements = [name for name in form_text(form, "entitlements").replace(",", " ").split() if name]
    if not problems:
        body = {
            "group_id": form_optional(form, "group_id"),
            "assortment": assortment,
            "entitlements": entitlements,
        }
        answer = await api(request, "PUT", f"/catalog/organisations/{organisation_id}/terms", json=body)
        if answer.ok:
            return redirect(link(request, f"admin/organisations/{organisation_id}") + "?notice=saved")
        problems = explain(answer)
    return await _organisation_page(request, problems)


@ROUTES.get("/{tenant}/admin/accounts")
async def accounts(request: web.Request) -> web.Response:
    return await _accounts_page(request)


async def _accounts_page(
    request: web.Request, problems: Problems | None = None, form: Any = None
) -> web.Response:
    signed_in(request, ADMIN)
    filters = {name: request.query[name] for name in ("q", "role", "status") if request.query.get(name)}
    context = {
        "accounts": await _listing(request, "/identity/accounts", **filters, limit="100"),
        "organisations": await _listing(request, "/identity/organisations"),
        "filters": filters,
        "problems": problems or Problems(),
        "form": form or {},
    }
    return render(request, "admin/accounts.html", context, status=422 if problems else 200)


@ROUTES.post("/{tenant}/admin/accounts")
async def invite(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    body: dict[str, Any] = {
        "email": form_text(form, "email"),
        "display_name": form_text(form, "display_name"),
        "roles": [form_text(form, "role")],
        "organisation_id": form_optional(form, "organisation_id"),
    }
    answer = await api(request, "POST", "/identity/accounts/invitations", json=body)
    if not answer.ok:
        return await _accounts_page(request, explain(answer), form)
    return redirect(link(request, "admin/accounts") + "?notice=invited")


@ROUTES.post("/{tenant}/admin/accounts/{account_id}/unlock")
async def unlock(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    account_id = as_id(request.match_info["account_id"])
    answer = await api(request, "POST", f"/identity/accounts/{account_id}/unlock")
    if not answer.ok:
        return await _accounts_page(request, explain(answer))
    return redirect(link(request, "admin/accounts") + "?notice=unlocked")


@ROUTES.post("/{tenant}/admin/accounts/{account_id}/delete")
async def delete_account(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    account_id = as_id(request.match_info["account_id"])
    form = await form_of(request)
    if form.get("confirm") != "yes":
        problems = Problems()
        problems.add(gettext(N_("Tick the box to confirm.")))
        return await _accounts_page(request, problems)
    answer = await api(request, "DELETE", f"/identity/accounts/{account_id}")
    if not answer.ok:
        return await _accounts_page(request, explain(answer))
    return redirect(link(request, "admin/accounts") + "?notice=deleted")


# --- tenant settings ---


@ROUTES.get("/{tenant}/admin/settings")
async def settings(request: web.Request) -> web.Response:
    return await _settings_page(request)


async def _settings_page(
    request: web.Request, problems: Problems | None = None, form: Any = None
) -> web.Response:
    signed_in(request, ADMIN)
    current = await api(request, "GET", "/identity/tenant/settings")
    context = {"settings": form or current.body, "problems": problems or Problems()}
    return render(request, "admin/settings.html", context, status=422 if problems else 200)


def _number(form: Mapping[str, Any], name: str) -> int | str | None:
    value = form_text(form, name)
    if not value:
        return None
    return int(value) if value.isdigit() else value


@ROUTES.post("/{tenant}/admin/settings")
async def save_settings(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    body = {
        "password_min_length": _number(form, "password_min_length"),
        "password_classes": form.getall("password_classes", []),  # type: ignore[attr-defined]
        "password_change_at_first_login": form.get("password_change_at_first_login") == "yes",
        "login_identifiers": form.getall("login_identifiers", []),  # type: ignore[attr-defined]
        "lockout_threshold": _number(form, "lockout_threshold"),
        "lockout_minutes": _number(form, "lockout_minutes"),
        "delete_without_order_days": _number(form, "delete_without_order_days"),
        "delete_after_last_order_days": _number(form, "delete_after_last_order_days"),
        "time_zone": form_text(form, "time_zone"),
    }
    answer = await api(request, "PUT", "/identity/tenant/settings", json=body)
    if not answer.ok:
        return await _settings_page(request, explain(answer), body)
    return redirect(link(request, "admin/settings") + "?notice=saved")


# --- catalog: brands, categories, customer groups, products ---


@ROUTES.get("/{tenant}/admin/catalog")
async def catalog_setup(request: web.Request) -> web.Response:
    return await _catalog_setup_page(request)


async def _catalog_setup_page(
    request: web.Request, problems: Problems | None = None, form: Any = None, report: Any = ()
) -> web.Response:
    signed_in(request, ADMIN)
    context = {
        "brands": await _listing(request, "/catalog/brands"),
        "categories": await _listing(request, "/catalog/categories"),
        "groups": await _listing(request, "/catalog/customer-groups"),
        "problems": problems or Problems(),
        "form": form or {},
        "report": report,
    }
    return render(request, "admin/catalog.html", context, status=422 if problems else 200)


@ROUTES.post("/{tenant}/admin/catalog/{what}")
async def add_to_catalog(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    what = request.match_info["what"]
    if what == "brands":
        answer = await api(request, "POST", "/catalog/brands", json={"name": form_text(form, "name")})
    elif what == "categories":
        names = {
            code: form_text(form, f"name_{code}")
            for code in ("fr", "en", "ru")
            if form_text(form, f"name_{code}")
        }
        body = {"names": names, "parent_id": form_optional(form, "parent_id")}
        answer = await api(request, "POST", "/catalog/categories", json=body)
    elif what == "customer-groups":
        answer = await api(
            request, "POST", "/catalog/customer-groups", json={"name": form_text(form, "name")}
        )
    elif what == "products":
        return await _import(request, form, "/catalog/imports/products", "admin/catalog")
    else:
        raise web.HTTPNotFound
    if not answer.ok:
        return await _catalog_setup_page(request, explain(answer), form)
    return redirect(link(request, "admin/catalog") + "?notice=saved")


async def _import(request: web.Request, form: Mapping[str, Any], path: str, back: str) -> web.Response:
    """Send an uploaded CSV or XLSX file to an import route; its per-line report as a table."""
    upload = form.get("file")
    problems = Problems()
    report: list[dict[str, Any]] = []
    if not isinstance(upload, web.FileField) or not upload.filename:
        problems.add(gettext(N_("Choose a CSV or XLSX file.")), "file")
    else:
        content = upload.file.read()
        suffix = "." + upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
        answer = await api(
            request,
            "POST",
            path,
            data=content,
            headers={"Content-Type": IMPORT_TYPES.get(suffix, "application/octet-stream")},
        )
        if answer.ok:
            return redirect(link(request, back) + "?notice=imported")
        problems = explain(answer)
        body: dict[str, Any] = answer.body if isinstance(answer.body, dict) else {}
        report = [error for error in body.get("errors") or [] if "line" in error]
        problems.fields = {}  # the report shows each line's error
    if back == "admin/catalog":
        return await _catalog_setup_page(request, problems, report=report)
    return await _price_list_page(request, problems, report)


# --- price lists ---


@ROUTES.get("/{tenant}/admin/price-lists")
async def price_lists(request: web.Request) -> web.Response:
    return await _price_lists_page(request)


async def _price_lists_page(
    request: web.Request, problems: Problems | None = None, form: Any = None
) -> web.Response:
    signed_in(request, ADMIN)
    context = {
        "price_lists": await _listing(request, "/catalog/price-lists"),
        "brands": await _listing(request, "/catalog/brands"),
        "groups": await _listing(request, "/catalog/customer-groups"),
        "organisations": await _listing(request, "/identity/organisations"),
        "problems": problems or Problems(),
        "form": form or {},
    }
    return render(request, "admin/price_lists.html", context, status=422 if problems else 200)


def _moment(form: Mapping[str, Any], name: str, time_zone: str) -> str | None:
    """A `datetime-local` field read in the tenant's time zone, as ISO 8601 with its offset."""
    value = form_text(form, name)
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(time_zone)).isoformat()
    except ValueError:
        return value


@ROUTES.post("/{tenant}/admin/price-lists")
async def create_price_list(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    zone = tenant_of(request).time_zone
    scope = form_text(form, "scope")
    body: dict[str, Any] = {
        "name": form_text(form, "name"),
        "scope": scope,
        "brand_id": form_optional(form, "brand_id"),
        "group_id": form_optional(form, "group_id") if scope == "group" else None,
        "organisation_id": form_optional(form, "organisation_id") if scope == "organisation" else None,
        "currency": form_text(form, "currency").upper(),
        "valid_from": _moment(form, "valid_from", zone),
        "valid_until": _moment(form, "valid_until", zone),
        "prices": [],
    }
    answer = await api(request, "POST", "/catalog/price-lists", json=body)
    if not answer.ok:
        return await _price_lists_page(request, explain(answer), form)
    return redirect(link(request, f"admin/price-lists/{answer.body['id']}"))


@ROUTES.get("/{tenant}/admin/price-lists/{price_list_id}")
async def price_list(request: web.Request) -> web.Response:
    return await _price_list_page(request)


async def _price_list_page(
    request: web.Request, problems: Problems | None = None, report: Any = ()
) -> web.Response:
    signed_in(request, ADMIN)
    price_list_id = as_id(request.match_info["price_list_id"])
    found = await api(request, "GET", f"/catalog/price-lists/{price_list_id}")
    if not found.ok:
        raise web.HTTPNotFound
    products = await api(request, "GET", "/catalog/products", params={"status": "all", "limit": "200"})
    codes = {p["id"]: p for p in products.body["items"]} if products.ok else {}
    context = {
        "price_list": found.body,
        "products": codes,
        "problems": problems or Problems(),
        "report": report,
    }
    return render(request, "admin/price_list.html", context, status=422 if problems else 200)


@ROUTES.post("/{tenant}/admin/price-lists/{price_list_id}/import")
async def import_prices(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    price_list_id = as_id(request.match_info["price_list_id"])
    form = await form_of(request)
    return await _import(
        request, form, f"/catalog/imports/price-lists/{price_list_id}", f"admin/price-lists/{price_list_id}"
    )


@ROUTES.post("/{tenant}/admin/price-lists/{price_list_id}/withdraw")
async def withdraw(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    price_list_id = as_id(request.match_info["price_list_id"])
    answer = await api(request, "POST", f"/catalog/price-lists/{price_list_id}/withdraw")
    if not answer.ok:
        return await _price_list_page(request, explain(answer))
    return redirect(link(request, f"admin/price-lists/{price_list_id}") + "?notice=withdrawn")


# --- documents and assets ---


@ROUTES.get("/{tenant}/admin/documents")
async def documents(request: web.Request) -> web.Response:
    return await _documents_page(request)


async def _documents_page(request: web.Request, problems: Problems | None = None) -> web.Response:
    signed_in(request, ADMIN)
    brands = await _listing(request, "/catalog/brands")
    shelves = []
    for brand in brands:
        listed = await api(request, "GET", f"/catalog/brands/{brand['id']}/documents")
        shelves.append({"brand": brand, "documents": listed.body["documents"] if listed.ok else []})
    context = {
        "brands": brands,
        "shelves": shelves,
        "assets": await _listing(request, "/catalog/assets"),
        "problems": problems or Problems(),
    }
    return render(request, "admin/documents.html", context, status=422 if problems else 200)


@ROUTES.post("/{tenant}/admin/documents/{what}")
async def upload(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    upload_field = form.get("file")
    if not isinstance(upload_field, web.FileField) or not upload_field.filename:
        problems = Problems()
        problems.add(gettext(N_("Choose a file.")), "file")
        return await _documents_page(request, problems)
    params = {"title": form_text(form, "title"), "filename": upload_field.filename}
    if request.match_info["what"] == "brand":
        params |= {"kind": form_text(form, "kind"), "period": form_text(form, "period")}
        path = f"/catalog/brands/{as_id(form_text(form, 'brand_id'))}/documents"
    else:
        params |= {k: v for k in ("brand_id", "required_entitlement") if (v := form_text(form, k))}
        path = "/catalog/assets"
    answer = await api(
        request,
        "POST",
        path,
        params=params,
        data=upload_field.file.read(),
        headers={"Content-Type": upload_field.content_type or "application/octet-stream"},
    )
    if not answer.ok:
        return await _documents_page(request, explain(answer))
    return redirect(link(request, "admin/documents") + "?notice=uploaded")


# --- loyalty and messages ---


@ROUTES.get("/{tenant}/admin/earning-rule")
async def earning_rule(request: web.Request) -> web.Response:
    return await _earning_rule_page(request)


async def _earning_rule_page(request: web.Request, problems: Problems | None = None) -> web.Response:
    signed_in(request, ADMIN)
    rule = await api(request, "GET", "/loyalty/rules/earning")
    context = {"rule": rule.body if rule.ok else {}, "problems": problems or Problems()}
    return render(request, "admin/earning_rule.html", context, status=422 if problems else 200)


@ROUTES.post("/{tenant}/admin/earning-rule")
async def set_earning_rule(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    answer = await api(
        request, "PUT", "/loyalty/rules/earning", json={"points_per_unit": _number(form, "points_per_unit")}
    )
    if not answer.ok:
        return await _earning_rule_page(request, explain(answer))
    return redirect(link(request, "admin/earning-rule") + "?notice=saved")


@ROUTES.get("/{tenant}/admin/messages")
async def messages(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    return render(
        request, "admin/messages.html", {"messages": await _listing(request, "/notify/messages", limit="200")}
    )


# --- products ---

LOCALES = ("fr", "en", "ru")


@ROUTES.get("/{tenant}/admin/products")
async def products(request: web.Request) -> web.Response:
    return await _products_page(request)


async def _products_page(
    request: web.Request, problems: Problems | None = None, form: Any = None
) -> web.Response:
    signed_in(request, ADMIN)
    params = {"status": "all", "limit": "200"} | ({"q": request.query["q"]} if request.query.get("q") else {})
    listed = await api(request, "GET", "/catalog/products", params=params)
    context = {
        "products": listed.body["items"] if listed.ok else [],
        "q": request.query.get("q", ""),
        "problems": problems or Problems(),
        "form": form or {"currency": "EUR", "vat_rate": "20", "active": "yes"},
        **await _product_choices(request),
    }
    return render(request, "admin/products.html", context, status=422 if problems else 200)


async def _product_choices(request: web.Request) -> dict[str, Any]:
    return {
        "brands": await _listing(request, "/catalog/brands"),
        "categories": await _listing(request, "/catalog/categories"),
    }


def _product_body(
    form: Mapping[str, Any], current: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], Problems]:
    """A product as the API takes it from the form (what the form lacks kept from `current`), or the
    problems of the amounts typed."""
    problems = Problems()
    currency = form_text(form, "currency").upper()
    price = i18n.parse_money(form_text(form, "price"), currency) if len(currency) == 3 else None
    if price is None:
        problems.add(gettext(N_("An amount, such as 12.90.")), "price_minor")
    vat = i18n.parse_percent(form_text(form, "vat_rate") or "0")
    if vat is None:
        problems.add(gettext(N_("A rate in percent, such as 5.5.")), "vat_rate_bp")
    names = {code: form_text(form, f"name_{code}") for code in LOCALES if form_text(form, f"name_{code}")}
    body = {
        "name": form_text(form, "name"),
        "price_minor": price,
        "currency": currency,
        "active": form.get("active") == "yes",
        "brand_id": form_optional(form, "brand_id"),
        "category_id": form_optional(form, "category_id"),
        "ean": form_optional(form, "ean"),
        "names": names,
        "descriptions": dict((current or {}).get("descriptions") or {}),
        "images": list((current or {}).get("images") or []),
        "vat_rate_bp": vat,
    }
    return body, problems


@ROUTES.post("/{tenant}/admin/products")
async def create_product(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    body, problems = _product_body(form)
    if not problems:
        answer = await api(
            request, "POST", "/catalog/products", json=body | {"code": form_text(form, "code")}
        )
        if answer.ok:
            return redirect(link(request, f"admin/products/{answer.body['id']}") + "?notice=saved")
        problems = explain(answer)
    return await _products_page(request, problems, form)


@ROUTES.get("/{tenant}/admin/products/{product_id}")
async def product(request: web.Request) -> web.Response:
    return await _product_page(request)


async def _product_page(
    request: web.Request, problems: Problems | None = None, form: Any = None
) -> web.Response:
    signed_in(request, ADMIN)
    product_id = as_id(request.match_info["product_id"])
    found = await api(request, "GET", f"/catalog/products/{product_id}")
    if not found.ok:
        raise web.HTTPNotFound
    current = found.body
    shown = form or {
        "name": current["name"],
        "price": i18n.amount(current["price_minor"], current["currency"]),
        "currency": current["currency"],
        "vat_rate": i18n.number(Decimal(current["vat_rate_bp"]).scaleb(-2)),
        "brand_id": current["brand_id"] or "",
        "category_id": current["category_id"] or "",
        "ean": current["ean"] or "",
        "active": "yes" if current["active"] else "",
        **{f"name_{code}": current["names"].get(code, "") for code in LOCALES},
    }
    context = {
        "product": current,
        "form": shown,
        "problems": problems or Problems(),
        **await _product_choices(request),
    }
    return render(request, "admin/product.html", context, status=422 if problems else 200)


@ROUTES.post("/{tenant}/admin/products/{product_id}")
async def edit_product(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    product_id = as_id(request.match_info["product_id"])
    form = await form_of(request)
    found = await api(request, "GET", f"/catalog/products/{product_id}")
    if not found.ok:
        raise web.HTTPNotFound
    body, problems = _product_body(form, found.body)
    if not problems:
        answer = await api(request, "PUT", f"/catalog/products/{product_id}", json=body)
        if answer.ok:
            return redirect(link(request, f"admin/products/{product_id}") + "?notice=saved")
        problems = explain(answer)
    return await _product_page(request, problems, form)


# --- editing what exists ---

ROLES = ("admin", "shop", "partner", "validator", "seller", "customer")


@ROUTES.post("/{tenant}/admin/organisations/{organisation_id}")
async def edit_organisation(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    organisation_id = as_id(request.match_info["organisation_id"])
    form = await form_of(request)
    body = {"name": form_text(form, "name"), "customer_code": form_text(form, "customer_code")}
    answer = await api(request, "PATCH", f"/identity/organisations/{organisation_id}", json=body)
    if not answer.ok:
        return await _organisation_page(request, explain(answer))
    return redirect(link(request, f"admin/organisations/{organisation_id}") + "?notice=saved")


@ROUTES.get("/{tenant}/admin/accounts/{account_id}")
async def account(request: web.Request) -> web.Response:
    return await _account_page(request)


async def _account_page(request: web.Request, problems: Problems | None = None) -> web.Response:
    signed_in(request, ADMIN)
    account_id = as_id(request.match_info["account_id"])
    found = await api(request, "GET", f"/identity/accounts/{account_id}")
    if not found.ok:
        raise web.HTTPNotFound
    context = {
        "account": found.body,
        "roles": ROLES,
        "organisations": await _listing(request, "/identity/organisations"),
        "problems": problems or Problems(),
    }
    return render(request, "admin/account.html", context, status=422 if problems else 200)


@ROUTES.post("/{tenant}/admin/accounts/{account_id}")
async def change_membership(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    account_id = as_id(request.match_info["account_id"])
    form = await form_of(request)
    body = {"roles": form.getall("roles", []), "organisation_id": form_optional(form, "organisation_id")}  # type: ignore[attr-defined]
    answer = await api(request, "PATCH", f"/identity/accounts/{account_id}", json=body)
    if not answer.ok:
        return await _account_page(request, explain(answer))
    return redirect(link(request, f"admin/accounts/{account_id}") + "?notice=saved")


@ROUTES.post("/{tenant}/admin/catalog/{what}/{item_id}")
async def change_in_catalog(request: web.Request) -> web.Response:
    """Rename a brand or a customer group; rename or move a category; delete a group or a category."""
    signed_in(request, ADMIN)
    form = await form_of(request)
    what, item_id = request.match_info["what"], as_id(request.match_info["item_id"])
    paths = {
        "brands": "/catalog/brands",
        "customer-groups": "/catalog/customer-groups",
        "categories": "/catalog/categories",
    }
    if what not in paths:
        raise web.HTTPNotFound
    path = f"{paths[what]}/{item_id}"
    if form.get("action") == "delete" and what != "brands":
        answer = await api(request, "DELETE", path)
    elif what == "categories":
        names = {code: form_text(form, f"name_{code}") for code in LOCALES if form_text(form, f"name_{code}")}
        answer = await api(
            request, "PUT", path, json={"names": names, "parent_id": form_optional(form, "parent_id")}
        )
    else:
        answer = await api(request, "PUT", path, json={"name": form_text(form, "name")})
    if not answer.ok:
        return await _catalog_setup_page(request, explain(answer))
    return redirect(link(request, "admin/catalog") + "?notice=saved")


@ROUTES.post("/{tenant}/admin/price-lists/{price_list_id}/edit")
async def edit_price_list(request: web.Request) -> web.Response:
    """The list's name and validity; its prices and whom it is for stay as they are."""
    signed_in(request, ADMIN)
    price_list_id = as_id(request.match_info["price_list_id"])
    found = await api(request, "GET", f"/catalog/price-lists/{price_list_id}")
    if not found.ok:
        raise web.HTTPNotFound
    form = await form_of(request)
    zone = tenant_of(request).time_zone
    kept = ("scope", "brand_id", "group_id", "organisation_id", "currency", "prices")
    body = {key: found.body[key] for key in kept} | {
        "name": form_text(form, "name"),
        "valid_from": _moment(form, "valid_from", zone),
        "valid_until": _moment(form, "valid_until", zone),
    }
    answer = await api(request, "PUT", f"/catalog/price-lists/{price_list_id}", json=body)
    if not answer.ok:
        return await _price_list_page(request, explain(answer))
    return redirect(link(request, f"admin/price-lists/{price_list_id}") + "?notice=saved")


@ROUTES.post("/{tenant}/admin/documents/{what}/{file_id}/delete")
async def delete_file(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    what, file_id = request.match_info["what"], as_id(request.match_info["file_id"])
    paths = {"brand": "/catalog/documents", "asset": "/catalog/assets"}
    if what not in paths:
        raise web.HTTPNotFound
    answer = await api(request, "DELETE", f"{paths[what]}/{file_id}")
    if not answer.ok:
        return await _documents_page(request, explain(answer))
    return redirect(link(request, "admin/documents") + "?notice=deleted-file")


# --- API clients ---


async def _clients_page(
    request: web.Request, problems: Problems | None = None, issued: Any = None, status: int = 200
) -> web.Response:
    signed_in(request, ADMIN)
    context = {
        "clients": await _listing(request, "/identity/api-clients"),
        "issued": issued,
        "problems": problems or Problems(),
        "idempotency_key": uuid.uuid4(),
    }
    return render(request, "admin/api_clients.html", context, status=status)


@ROUTES.get("/{tenant}/admin/api-clients")
async def api_clients(request: web.Request) -> web.Response:
    return await _clients_page(request)


@ROUTES.post("/{tenant}/admin/api-clients")
async def create_api_client(request: web.Request) -> web.Response:
    """The new client's secret is shown on the page this answers (never again)."""
    signed_in(request, ADMIN)
    form = await form_of(request)
    body = {"name": form_text(form, "name")}
    answer = await api(request, "POST", "/identity/api-clients", json=body, headers=idempotency_key(form))
    if not answer.ok:
        return await _clients_page(request, explain(answer), status=answer.status)
    return await _clients_page(request, issued=answer.body)


@ROUTES.post("/{tenant}/admin/api-clients/{client_id}")
async def change_api_client(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    client_id = as_id(request.match_info["client_id"])
    form = await form_of(request)
    action = "rotate" if form.get("action") == "rotate" else "revoke"
    answer = await api(request, "POST", f"/identity/api-clients/{client_id}/{action}")
    if answer.status == 404:
        raise web.HTTPNotFound
    if not answer.ok:
        return await _clients_page(request, explain(answer), status=answer.status)
    if action == "rotate":
        return await _clients_page(request, issued=answer.body)
    return redirect(link(request, "admin/api-clients") + "?notice=saved")
