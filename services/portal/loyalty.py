"""The merchant's loyalty screens: the manager's shops, their staff and the earning rules; a shop's
counter (find a customer by her card, record a visit or a purchase); a customer's card (on screen and
to print), her rewards and the gift cards she buys online."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from services.portal import i18n
from services.portal.charts import Bar, bar_chart
from services.portal.i18n import N_
from services.portal.partner import points_page
from services.portal.problems import Problems, explain
from services.portal.web import (
    GATEWAY,
    PUBLIC_URL,
    api,
    form_of,
    form_text,
    idempotency_key,
    link,
    redirect,
    render,
    signed_in,
)

ROUTES = web.RouteTableDef()
ADMIN = "admin"
COUNTER = ("shop", "admin")
CURRENCY = "EUR"
EARNS = {
    "per_amount": N_("Points per euro spent"),
    "percent": N_("A percentage of the amount, in points"),
    "per_visit": N_("Points at each visit"),
    "nth_visit": N_("Points every n-th visit"),
    "welcome": N_("Welcome points"),
}
PROGRAM_KINDS = {
    "discount": N_("Discount"),
    "cashback": N_("Cashback"),
    "gift": N_("Gift"),
}


# --- the manager: shops and their staff ---


@ROUTES.get("/{tenant}/admin/shops")
async def shops(request: web.Request) -> web.Response:
    return await _shops_page(request)


async def _shops_page(
    request: web.Request, problems: Problems | None = None, form: Any = None, status: int = 200
) -> web.Response:
    signed_in(request, ADMIN)
    listed = await api(request, "GET", "/identity/organisations")
    found = [o for o in (listed.body if listed.ok else []) if o["kind"] == "shop"]
    staff = {}
    for shop in found:
        members = await api(request, "GET", f"/identity/organisations/{shop['organisation_id']}/members")
        staff[shop["organisation_id"]] = members.body if members.ok else []
    context = {
        "shops": found,
        "staff": staff,
        "problems": problems or Problems(),
        "form": form or {},
        "idempotency_key": uuid.uuid4(),
    }
    return render(request, "admin/shops.html", context, status=status)


@ROUTES.post("/{tenant}/admin/shops")
async def create_shop(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    body: dict[str, Any] = {"kind": "shop", "name": form_text(form, "name")}
    for name in ("phone", "opening_hours"):
        if form_text(form, name):
            body[name] = form_text(form, name)
    if form_text(form, "line1") or form_text(form, "city"):
        body["address"] = {
            "line1": form_text(form, "line1"),
            "postal_code": form_text(form, "postal_code"),
            "city": form_text(form, "city"),
            "country": (form_text(form, "country") or "FR").upper(),
        }
    answer = await api(request, "POST", "/identity/organisations", json=body, headers=idempotency_key(form))
    if not answer.ok:
        return await _shops_page(request, explain(answer), form, status=answer.status)
    return redirect(link(request, "admin/shops"))


@ROUTES.post("/{tenant}/admin/shops/{shop_id}/staff")
async def add_staff(request: web.Request) -> web.Response:
    """A shop account: the shop role in that shop, with a password the manager hands over."""
    signed_in(request, ADMIN)
    form = await form_of(request)
    body = {
        "email": form_text(form, "email"),
        "display_name": form_text(form, "display_name") or form_text(form, "email"),
        "roles": ["shop"],
        "organisation_id": request.match_info["shop_id"],
        "initial_password": form_text(form, "password"),
    }
    answer = await api(
        request, "POST", "/identity/accounts/invitations", json=body, headers=idempotency_key(form)
    )
    if not answer.ok:
        problems = explain(answer)
        if "initial_password" in problems.fields:
            problems.fields["password"] = problems.fields.pop("initial_password")
        return await _shops_page(request, problems, form, status=answer.status)
    return redirect(link(request, "admin/shops"))


# --- the manager: earning rules ---


@ROUTES.get("/{tenant}/admin/loyalty-rules")
async def rules(request: web.Request) -> web.Response:
    return await _rules_page(request)


async def _rules_page(
    request: web.Request, problems: Problems | None = None, form: Any = None, status: int = 200
) -> web.Response:
    signed_in(request, ADMIN)
    listed = await api(request, "GET", "/loyalty/counter/rules")
    choices = await api(request, "GET", "/loyalty/counter/choices", params={"locale": i18n.current_locale()})
    expiry = await api(request, "GET", "/loyalty/settings/expiry")
    sponsor = await api(request, "GET", "/loyalty/settings/sponsor")
    context = {
        "sponsor": sponsor.body if sponsor.ok else {"percent_bp": 0, "first_order_points": 0},
        "rules": listed.body if listed.ok else [],
        "choices": choices.body if choices.ok else {"shops": [], "categories": [], "products": []},
        "earns": {kind: i18n.gettext(name) for kind, name in EARNS.items()},
        "expiry": expiry.body if expiry.ok else {"expiry_months": None, "warning_days": 30},
        "problems": problems or Problems(),
        "form": form or {},
        "idempotency_key": uuid.uuid4(),
    }
    return render(request, "admin/loyalty_rules.html", context, status=status)


def _rule(form: Mapping[str, Any]) -> dict[str, Any]:
    """A rule as the form gives it: the amounts typed the reader's way, blank conditions left out."""
    spec: dict[str, Any] = {"name": form_text(form, "name"), "earns": form_text(form, "earns")}
    for name in ("points", "every"):
        if form_text(form, name):
            spec[name] = _integer(form_text(form, name))
    if form_text(form, "percent"):
        rate = i18n.parse_percent(form_text(form, "percent"))
        spec["percent_bp"] = rate if rate is not None else form_text(form, "percent")
    if form_text(form, "min_amount"):
        minimum = i18n.parse_money(form_text(form, "min_amount"), CURRENCY)
        spec["min_amount_minor"] = minimum if minimum is not None else form_text(form, "min_amount")
    if spec["earns"] == "welcome":
        spec["welcome_at"] = form_text(form, "welcome_at") or "card"
    spec["professionals_only"] = form_text(form, "professionals_only") == "on"
    if form_text(form, "shop_id"):
        spec["shop_ids"] = [form_text(form, "shop_id")]
    if form_text(form, "category_included"):
        spec["categories_included"] = [form_text(form, "category_included")]
    if form_text(form, "category_excluded"):
        spec["categories_excluded"] = [form_text(form, "category_excluded")]
    return spec


def _integer(text: str) -> int | str:
    """A whole number typed in a form, or the text itself for the API to refuse by name."""
    return int(text) if text.strip().lstrip("-").isdigit() else text


def _as_form(problems: Problems, names: Mapping[str, str]) -> None:
    """Name the API's fields as the form does (`amount_minor` → the form's `amount`)."""
    problems.fields = {names.get(name, name): text for name, text in problems.fields.items()}


_FORM_FIELDS = {
    "percent_bp": "percent",
    "min_amount_minor": "min_amount",
    "shop_ids": "shop_id",
    "categories_included": "category_included",
    "categories_excluded": "category_excluded",
}


@ROUTES.post("/{tenant}/admin/loyalty-rules")
async def create_rule(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    answer = await api(
        request, "POST", "/loyalty/counter/rules", json=_rule(form), headers=idempotency_key(form)
    )
    if not answer.ok:
        problems = explain(answer)
        _as_form(problems, _FORM_FIELDS)
        return await _rules_page(request, problems, form, status=answer.status)
    return redirect(link(request, "admin/loyalty-rules"))


@ROUTES.post("/{tenant}/admin/loyalty-rules/expiry")
async def set_expiry(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    months = form_text(form, "expiry_months")
    body = {
        "expiry_months": _integer(months) if months else None,
        "warning_days": _integer(form_text(form, "warning_days") or "30"),
    }
    answer = await api(request, "PUT", "/loyalty/settings/expiry", json=body)
    if not answer.ok:
        return await _rules_page(request, explain(answer), form, status=answer.status)
    return redirect(link(request, "admin/loyalty-rules"))


@ROUTES.post("/{tenant}/admin/loyalty-rules/sponsor")
async def set_sponsor_rule(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    percent = i18n.parse_percent(form_text(form, "sponsor_percent") or "0")
    body = {
        "percent_bp": percent if percent is not None else form_text(form, "sponsor_percent"),
        "first_order_points": _integer(form_text(form, "first_order_points") or "0"),
    }
    answer = await api(request, "PUT", "/loyalty/settings/sponsor", json=body)
    if not answer.ok:
        problems = explain(answer)
        _as_form(problems, {"percent_bp": "sponsor_percent"})
        return await _rules_page(request, problems, form, status=answer.status)
    return redirect(link(request, "admin/loyalty-rules"))


@ROUTES.get("/{tenant}/sponsor-points")
async def sponsor_points(request: web.Request) -> web.Response:
    """A sponsor's points earned on her team's orders: their balance and history, apart from hers."""
    signed_in(request)
    account = await api(request, "GET", "/loyalty/accounts/me")
    ledger = await api(request, "GET", "/loyalty/accounts/me/ledger", params={"limit": "500"})
    entries = [entry for entry in (ledger.body if ledger.ok else []) if entry.get("pot") == "sponsor"]
    balance = account.body["sponsor_balance"] if account.ok else 0
    return render(request, "sponsor_points.html", {"balance": balance, "entries": entries})


@ROUTES.post("/{tenant}/admin/loyalty-rules/{rule_id}/retire")
async def retire_rule(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    await api(request, "DELETE", f"/loyalty/counter/rules/{request.match_info['rule_id']}")
    return redirect(link(request, "admin/loyalty-rules"))


# --- the manager: reward programs ---


@ROUTES.get("/{tenant}/admin/reward-programs")
async def programs(request: web.Request) -> web.Response:
    return await _programs_page(request)


async def _programs_page(
    request: web.Request, problems: Problems | None = None, form: Any = None, status: int = 200
) -> web.Response:
    signed_in(request, ADMIN)
    listed = await api(request, "GET", "/loyalty/counter/programs")
    choices = await api(request, "GET", "/loyalty/counter/choices")
    context = {
        "programs": listed.body if listed.ok else [],
        "shops": choices.body["shops"] if choices.ok else [],
        "kinds": {kind: i18n.gettext(name) for kind, name in PROGRAM_KINDS.items()},
        "problems": problems or Problems(),
        "form": form or {},
        "idempotency_key": uuid.uuid4(),
    }
    return render(request, "admin/reward_programs.html", context, status=status)


def _program(form: Mapping[str, Any], shops: list[str]) -> dict[str, Any]:
    """A program as the form gives it: the shops left unticked opted out."""
    spec: dict[str, Any] = {"title": form_text(form, "title"), "kind": form_text(form, "kind")}
    if form_text(form, "percent"):
        rate = i18n.parse_percent(form_text(form, "percent"))
        spec["percent_bp"] = rate if rate is not None else form_text(form, "percent")
    if form_text(form, "gift"):
        spec["gift"] = form_text(form, "gift")
    if form_text(form, "points_cost"):
        spec["points_cost"] = _integer(form_text(form, "points_cost"))
    if form_text(form, "every_visits"):
        spec["every_visits"] = _integer(form_text(form, "every_visits"))
    spec["welcome"] = form_text(form, "welcome") == "on"
    spec["professionals_only"] = form_text(form, "professionals_only") == "on"
    linked = set(form.getall("shop", []))  # type: ignore[attr-defined]
    spec["excluded_shops"] = [shop for shop in shops if shop not in linked]
    return spec


@ROUTES.post("/{tenant}/admin/reward-programs")
async def create_program(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    choices = await api(request, "GET", "/loyalty/counter/choices")
    shops = [shop["id"] for shop in choices.body["shops"]] if choices.ok else []
    key = idempotency_key(form)
    answer = await api(request, "POST", "/loyalty/counter/programs", json=_program(form, shops), headers=key)
    if not answer.ok:
        problems = explain(answer)
        _as_form(problems, _FORM_FIELDS)
        return await _programs_page(request, problems, form, status=answer.status)
    return redirect(link(request, "admin/reward-programs"))


@ROUTES.post("/{tenant}/admin/reward-programs/{program_id}/retire")
async def retire_program(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    await api(request, "DELETE", f"/loyalty/counter/programs/{request.match_info['program_id']}")
    return redirect(link(request, "admin/reward-programs"))


# --- a shop's counter ---


@ROUTES.get("/{tenant}/counter/card")
async def find_card(request: web.Request) -> web.Response:
    """The number typed or scanned at the counter: to the customer's card."""
    signed_in(request, *COUNTER)
    number = "".join(request.query.get("number", "").split()).upper()
    if not number.isalnum():
        return redirect(link(request, "counter"))
    return redirect(link(request, f"counter/cards/{number}"))


@ROUTES.get("/{tenant}/counter/cards/{number}")
async def card(request: web.Request) -> web.Response:
    return await _card_page(request)


async def _card_page(
    request: web.Request,
    problems: Problems | None = None,
    form: Any = None,
    recorded: Any = None,
    status: int = 200,
) -> web.Response:
    signed_in(request, *COUNTER)
    number = request.match_info["number"]
    found = await api(request, "GET", f"/loyalty/cards/{number}")
    if found.status == 404:
        return render(request, "counter_unknown_card.html", {"number": number}, status=404)
    choices = await api(request, "GET", "/loyalty/counter/choices", params={"locale": i18n.current_locale()})
    context = {
        "card": found.body,
        "choices": choices.body if choices.ok else {"shops": [], "categories": [], "products": []},
        "recorded": recorded,
        "problems": problems or Problems(),
        "form": form or {},
        "idempotency_key": uuid.uuid4(),
    }
    return render(request, "counter_card.html", context, status=status)


@ROUTES.post("/{tenant}/counter/cards/{number}")
async def record(request: web.Request) -> web.Response:
    signed_in(request, *COUNTER)
    form = await form_of(request)
    number = request.match_info["number"]
    typed = form_text(form, "amount")
    body: dict[str, Any] = {"kind": "purchase" if typed else "visit"}
    if typed:
        amount = i18n.parse_money(typed, CURRENCY)
        body |= {"amount_minor": amount if amount is not None else typed, "currency": CURRENCY}
        for name, field in (("category", "categories"), ("product", "products")):
            if form_text(form, name):
                body[field] = [form_text(form, name)]
    if taken := form.getall("reward", []):  # type: ignore[attr-defined]
        body["rewards"] = list(taken)
    answer = await api(
        request, "POST", f"/loyalty/cards/{number}/visits", json=body, headers=idempotency_key(form)
    )
    if not answer.ok:
        problems = explain(answer)
        renamed = {"amount_minor": "amount", "categories": "category", "products": "product"}
        _as_form(problems, renamed)
        return await _card_page(request, problems, form, status=answer.status)
    return await _card_page(request, recorded=answer.body)


@ROUTES.post("/{tenant}/counter/vouchers")
async def redeem_voucher(request: web.Request) -> web.Response:
    """A customer's code, typed at the counter: used once."""
    signed_in(request, *COUNTER)
    form = await form_of(request)
    answer = await api(
        request, "POST", "/loyalty/vouchers/redemptions", json={"code": form_text(form, "code")}
    )
    context = {"problems": explain(answer) if not answer.ok else Problems(), "form": {}, "created": None}
    context["voucher_redeemed"] = answer.ok
    return render(request, "counter.html", context, status=200 if answer.ok else answer.status)


@ROUTES.get("/{tenant}/counter/gift-cards")
async def gift_cards(request: web.Request) -> web.Response:
    return await _gift_cards_page(request)


async def _gift_cards_page(
    request: web.Request,
    problems: Problems | None = None,
    form: Any = None,
    sold: Any = None,
    redeemed: Any = None,
    status: int = 200,
) -> web.Response:
    signed_in(request, *COUNTER)
    context = {
        "problems": problems or Problems(),
        "form": form or {},
        "sold": sold,
        "redeemed": redeemed,
        "idempotency_key": uuid.uuid4(),
    }
    return render(request, "gift_cards.html", context, status=status)


def _money_field(form: Mapping[str, Any], name: str) -> int | str:
    typed = form_text(form, name)
    amount = i18n.parse_money(typed, CURRENCY)
    return amount if amount is not None else typed


_SALE_FIELDS = {"amount_minor": "amount"}
_REDEMPTION_FIELDS = {"amount_minor": "take", "number": "card_number"}


@ROUTES.post("/{tenant}/counter/gift-cards/sales")
async def sell_gift_card(request: web.Request) -> web.Response:
    signed_in(request, *COUNTER)
    form = await form_of(request)
    body: dict[str, Any] = {"amount_minor": _money_field(form, "amount"), "currency": CURRENCY}
    for name in ("number", "for_card"):
        if form_text(form, name):
            body[name] = form_text(form, name)
    key = idempotency_key(form)
    answer = await api(request, "POST", "/loyalty/gift-cards/sales", json=body, headers=key)
    if not answer.ok:
        problems = explain(answer)
        _as_form(problems, _SALE_FIELDS)
        return await _gift_cards_page(request, problems, form, status=answer.status)
    return await _gift_cards_page(request, sold=answer.body)


@ROUTES.post("/{tenant}/counter/gift-cards/redemptions")
async def redeem_gift_card(request: web.Request) -> web.Response:
    signed_in(request, *COUNTER)
    form = await form_of(request)
    body = {
        "number": form_text(form, "card_number"),
        "pin": form_text(form, "pin"),
        "amount_minor": _money_field(form, "take"),
    }
    answer = await api(request, "POST", "/loyalty/gift-cards/redemptions", json=body)
    if not answer.ok:
        problems = explain(answer)
        _as_form(problems, _REDEMPTION_FIELDS)
        kept = {"card_number": body["number"], "take": form_text(form, "take")}
        return await _gift_cards_page(request, problems, kept, status=answer.status)
    return await _gift_cards_page(request, redeemed=answer.body)


@ROUTES.get("/{tenant}/admin/gift-card-batches")
async def batches(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    context = {"problems": Problems(), "created": None, "idempotency_key": uuid.uuid4()}
    return render(request, "admin/gift_card_batches.html", context)


@ROUTES.post("/{tenant}/admin/gift-card-batches")
async def create_batch(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    form = await form_of(request)
    body = {"label": form_text(form, "label"), "count": _integer(form_text(form, "count"))}
    answer = await api(
        request, "POST", "/loyalty/gift-cards/batches", json=body, headers=idempotency_key(form)
    )
    context = {
        "problems": explain(answer) if not answer.ok else Problems(),
        "created": answer.body if answer.ok else None,
        "idempotency_key": uuid.uuid4(),
    }
    return render(
        request, "admin/gift_card_batches.html", context, status=200 if answer.ok else answer.status
    )


# --- the manager's dashboard and the journal ---


def _range(request: web.Request) -> dict[str, str]:
    """The dashboard's range as asked, the last 30 days by default (UTC days)."""
    today = datetime.now(UTC).date()
    asked = {
        "since": request.query.get("since") or str(today - timedelta(days=29)),
        "until": request.query.get("until") or str(today),
        "period": request.query.get("period") or "day",
    }
    if request.query.get("shop_id"):
        asked["shop_id"] = request.query["shop_id"]
    return asked


@ROUTES.get("/{tenant}/admin/loyalty-dashboard")
async def loyalty_dashboard(request: web.Request) -> web.Response:
    signed_in(request, ADMIN)
    asked = _range(request)
    answer = await api(request, "GET", "/loyalty/dashboard", params=asked)
    choices = await api(request, "GET", "/loyalty/counter/choices")
    board = answer.body if answer.ok else None
    charts = {}
    if board:
        for name, title in (
            ("visits", i18n.gettext("Visits")),
            ("points_issued", i18n.gettext("Points earned")),
        ):
            bars = [Bar(row["period"][5:], row[name]) for row in board["series"]]
            charts[name] = bar_chart(bars, title=title, shown=i18n.number)
    context = {
        "board": board,
        "charts": charts,
        "asked": asked,
        "query": urlencode(asked),
        "shops": choices.body["shops"] if choices.ok else [],
        "problems": explain(answer) if not answer.ok else Problems(),
    }
    return render(
        request, "admin/loyalty_dashboard.html", context, status=200 if answer.ok else answer.status
    )


@ROUTES.get("/{tenant}/admin/loyalty-dashboard.csv")
async def loyalty_dashboard_csv(request: web.Request) -> web.StreamResponse:
    session = signed_in(request, ADMIN)
    path = "/loyalty/dashboard.csv?" + urlencode(_range(request))
    got = await request.app[GATEWAY].download(request, path, token=session.access_token)
    if got.status != 200:
        raise web.HTTPNotFound
    return web.Response(body=got.body, headers=dict(got.headers))


@ROUTES.get("/{tenant}/counter/journal")
async def journal(request: web.Request) -> web.Response:
    signed_in(request, *COUNTER)
    params = {"limit": "100"}
    card = "".join(request.query.get("card", "").split())
    gift_card = "".join(request.query.get("gift_card", "").split())
    if card.isalnum():
        params["card"] = card
    if gift_card.isalnum():
        params["gift_card"] = gift_card
    answer = await api(request, "GET", "/loyalty/journal", params=params)
    context = {"lines": answer.body if answer.ok else [], "card": card, "gift_card": gift_card}
    return render(request, "journal.html", context)


# --- a customer's card and rewards ---


@ROUTES.post("/{tenant}/points/rewards/{program_id}")
async def take_reward(request: web.Request) -> web.Response:
    """She takes a reward online: its code is shown once here (and emailed)."""
    signed_in(request)
    form = await form_of(request)
    program_id = request.match_info["program_id"]
    answer = await api(
        request, "POST", f"/loyalty/rewards/{program_id}/vouchers", headers=idempotency_key(form)
    )
    if not answer.ok:
        return render(
            request, "voucher.html", {"problems": explain(answer), "voucher": None}, status=answer.status
        )
    return render(request, "voucher.html", {"problems": Problems(), "voucher": answer.body})


@ROUTES.post("/{tenant}/points/gift-cards")
async def buy_gift_card(request: web.Request) -> web.Response:
    """Start an online gift card purchase and send her to the provider's page; she comes back to
    her points page, which tells how the payment went."""
    signed_in(request)
    form = await form_of(request)
    typed = form_text(form, "amount")
    amount = i18n.parse_money(typed, CURRENCY)
    body: dict[str, Any] = {
        "amount_minor": amount if amount is not None else typed,
        "currency": CURRENCY,
        "return_url": request.app[PUBLIC_URL] + link(request, "points"),
    }
    if for_card := form_text(form, "for_card"):
        body["for_card"] = for_card
    answer = await api(
        request, "POST", "/loyalty/gift-cards/purchases", json=body, headers=idempotency_key(form)
    )
    if not answer.ok:
        problems = explain(answer)
        _as_form(problems, {"amount_minor": "amount"})
        return await points_page(request, problems, form, status=answer.status)
    return web.Response(status=303, headers={"Location": answer.body["redirect_url"]})


@ROUTES.get("/{tenant}/card")
async def printable_card(request: web.Request) -> web.Response:
    """Her loyalty card laid out to print (or to show at the counter)."""
    signed_in(request)
    mine = await api(request, "GET", "/loyalty/accounts/me/card")
    if not mine.ok or not mine.body["card_number"]:
        raise web.HTTPNotFound
    return render(request, "card_print.html", {"card_number": mine.body["card_number"]})


@ROUTES.get("/{tenant}/card.svg")
async def card_image(request: web.Request) -> web.StreamResponse:
    """The signed-in customer's card as a QR code, for her page and for printing."""
    session = signed_in(request)
    mine = await api(request, "GET", "/loyalty/accounts/me/card")
    if not mine.ok or not mine.body["card_number"]:
        raise web.HTTPNotFound
    path = f"/loyalty/cards/{mine.body['card_number']}/qr.svg"
    got = await request.app[GATEWAY].download(request, path, token=session.access_token)
    if got.status != 200:
        raise web.HTTPNotFound
    return web.Response(body=got.body, headers={"Content-Type": "image/svg+xml", "Cache-Control": "private"})
