"""Languages of the portal: Babel catalogs read at start-up, the request's locale, and formatting of
dates, numbers and money per locale and in the tenant's time zone."""

from __future__ import annotations

import contextvars
import io
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import (
    NumberFormatError,
    format_currency,
    format_decimal,
    format_percent,
    get_currency_precision,
    parse_decimal,
)
from babel.support import NullTranslations, Translations

LOCALES = ("fr", "en", "ru")
"""The languages the portal speaks; the messages are written in English."""
DEFAULT_LOCALE = "fr"
CATALOGS = Path(__file__).parent / "locales"

_current: contextvars.ContextVar[tuple[str, NullTranslations]] = contextvars.ContextVar("portal_locale")


def load_translations(folder: Path = CATALOGS) -> dict[str, NullTranslations]:
    """Each locale's translations, compiled in memory from its `.po` file (no build step)."""
    loaded: dict[str, NullTranslations] = {"en": NullTranslations()}
    for locale in LOCALES:
        po = folder / f"{locale}.po"
        if locale == "en" or not po.exists():
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=locale)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        loaded[locale] = Translations(compiled)
    return loaded


def use(locale: str, translations: Mapping[str, NullTranslations]) -> None:
    """Speak `locale` for the rest of this request (the templates' `_` and the formatting filters)."""
    _current.set((locale, translations.get(locale, translations["en"])))


def current_locale() -> str:
    return _current.get((DEFAULT_LOCALE, NullTranslations()))[0]


def gettext(message: str) -> str:
    return _current.get((DEFAULT_LOCALE, NullTranslations()))[1].gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _current.get((DEFAULT_LOCALE, NullTranslations()))[1].ngettext(singular, plural, n)


def negotiate(accept_language: str) -> str | None:
    """The first of our locales the browser's Accept-Language asks for, if any."""
    wanted = [part.split(";")[0].strip() for part in accept_language.split(",") if part.strip()]
    found = Locale.negotiate(wanted, LOCALES, sep="-")
    return str(found) if found else None


def money(amount_minor: int, currency: str) -> str:
    """`1290, "EUR"` → `12,90 €` in French, `€12.90` in English, `12,90 €` in Russian."""
    amount = Decimal(amount_minor).scaleb(-get_currency_precision(currency))
    return format_currency(amount, currency, locale=current_locale())


def number(value: int | float | Decimal) -> str:
    return format_decimal(value, locale=current_locale())


def moment(value: datetime | str | None, time_zone: str = "UTC") -> str:
    """A date and time in the tenant's time zone, in the reader's language."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return format_datetime(value, "medium", tzinfo=ZoneInfo(time_zone), locale=current_locale())


def day(value: datetime | str | None, time_zone: str = "UTC") -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return format_date(value.astimezone(ZoneInfo(time_zone)), "medium", locale=current_locale())


def N_(message: str) -> str:
    """Marks a message for the catalogs; translated where it is shown."""
    return message


_IDENTIFIERS = {
    "email": N_("email"),
    "registration_number": N_("registration number"),
    "card_number": N_("card number"),
}
_CLASSES = {
    "lower": N_("a lower-case letter"),
    "upper": N_("an upper-case letter"),
    "digit": N_("a digit"),
    "special": N_("a special character"),
}


def login_hint(tenant: Any) -> str:
    """ "Your email, registration number or card number", as the tenant allows."""
    names = ", ".join(
        gettext(_IDENTIFIERS[name]) for name in tenant.login_identifiers if name in _IDENTIFIERS
    )
    return gettext("Your {identifiers}").format(identifiers=names)


def password_rules(tenant: Any) -> str:
    """The tenant's password policy in words."""
    classes = ", ".join(gettext(_CLASSES[name]) for name in tenant.password_classes if name in _CLASSES)
    if not classes:
        return gettext("At least {count} characters.").format(count=tenant.password_min_length)
    return gettext("At least {count} characters, with: {classes}.").format(
        count=tenant.password_min_length, classes=classes
    )


_STATUSES = {
    "submitted": N_("Submitted"),
    "pending": N_("Waiting for loyalty"),
    "awaiting_approval": N_("Awaiting approval"),
    "refused": N_("Refused"),
    "confirmed": N_("Confirmed"),
    "cancelled": N_("Cancelled"),
    "shipped": N_("Shipped"),
    "delivered": N_("Delivered"),
    "returned": N_("Returned"),
}
_PAYMENT_MODES = {
    "cash_on_delivery": N_("Cash on delivery"),
    "pay_at_centre": N_("Pay at the centre"),
    "account_balance": N_("From my balance"),
    "instalments": N_("In instalments by card"),
}
_ENTRIES = {
    "earn": N_("Points earned"),
    "redeem": N_("Points spent"),
    "reverse": N_("Points taken back"),
    "expire": N_("Points expired"),
    "adjust": N_("Adjustment"),
    "forfeit": N_("Points forfeited"),
    "reserve": N_("Points reserved for an order"),
    "release": N_("Points given back"),
}
_INSTALMENT_STATUSES = {
    "scheduled": N_("To come"),
    "charging": N_("Being charged"),
    "paid": N_("Paid"),
    "flagged": N_("Charges failed"),
    "cancelled": N_("Cancelled"),
}
_RETURN_STATUSES = {
    "requested": N_("Waiting for a decision"),
    "accepted": N_("Accepted"),
    "refused": N_("Refused"),
}
_CAUSES = {
    "order": N_("order"),
    "order-cancelled": N_("order cancelled"),
    "order-returned": N_("goods returned"),
    "account-deletion": N_("account closed"),
    "visit": N_("at the shop"),
    "welcome": N_("welcome"),
    "reward": N_("rewards"),
    "expiry": N_("expired"),
    "voucher": N_("a reward's code"),
    "sponsor-order": N_("a recruit's order"),
    "sponsor-first-order": N_("a recruit's first order"),
    "sponsor-order-cancelled": N_("a recruit's order cancelled"),
    "order-sponsor": N_("order"),
}


def status_name(status: str) -> str:
    return gettext(_STATUSES[status]) if status in _STATUSES else status


def instalment_status_name(status: str) -> str:
    return gettext(_INSTALMENT_STATUSES[status]) if status in _INSTALMENT_STATUSES else status


def return_status_name(status: str) -> str:
    return gettext(_RETURN_STATUSES[status]) if status in _RETURN_STATUSES else status


def payment_mode_name(mode: str) -> str:
    return gettext(_PAYMENT_MODES[mode]) if mode in _PAYMENT_MODES else mode


def calendar_day(value: date | str | None) -> str:
    """A calendar day (a delivery date: no time, no zone) in the reader's language."""
    if value is None:
        return ""
    return format_date(
        date.fromisoformat(value) if isinstance(value, str) else value, "medium", locale=current_locale()
    )


def percent(rate_bp: int) -> str:
    """A rate in basis points as the reader writes a percentage: 550 → "5,5 %" in French."""
    return format_percent(Decimal(rate_bp).scaleb(-4), locale=current_locale(), decimal_quantization=False)


def entry_name(kind: str, cause_type: str) -> str:
    """ "Points earned (order)": a ledger entry's kind and cause in words."""
    name = gettext(_ENTRIES[kind]) if kind in _ENTRIES else kind
    cause = gettext(_CAUSES[cause_type]) if cause_type in _CAUSES else cause_type
    return f"{name} ({cause})"


TEMPLATE_GLOBALS = {
    "login_hint": login_hint,
    "password_rules": password_rules,
    "status_name": status_name,
    "payment_mode_name": payment_mode_name,
    "return_status_name": return_status_name,
    "instalment_status_name": instalment_status_name,
    "entry_name": entry_name,
}

_ROLES = {
    "admin": N_("administrator"),
    "shop": N_("shop"),
    "partner": N_("partner"),
    "validator": N_("validator"),
    "seller": N_("seller"),
    "customer": N_("customer"),
}
_SCOPES = {
    "brand": N_("every organisation"),
    "group": N_("a customer group"),
    "organisation": N_("one organisation"),
}


def role_name(role: str) -> str:
    return gettext(_ROLES[role]) if role in _ROLES else role


def scope_name(scope: str) -> str:
    return gettext(_SCOPES[scope]) if scope in _SCOPES else scope


TEMPLATE_GLOBALS |= {"role_name": role_name, "scope_name": scope_name}

_FIELDS = {
    "login": N_("Identifier"),
    "password": N_("Password"),
    "new_password": N_("New password"),
    "current_password": N_("Current password"),
    "email": N_("Email"),
    "display_name": N_("Name"),
    "phone": N_("Mobile phone"),
    "code": N_("Code"),
    "gift_card": N_("Gift card"),
    "sponsor_points": N_("Sponsor points"),
    "sponsor_percent": N_("Sponsor share"),
    "first_order_points": N_("Points on a first order"),
    "gift_card_amount": N_("Amount to pay with a gift card"),
    "customer_code": N_("Customer code"),
    "name": N_("Name"),
    "brand_id": N_("Brand"),
    "group_id": N_("Customer group"),
    "organisation_id": N_("Organisation"),
    "currency": N_("Currency"),
    "valid_from": N_("Valid from"),
    "valid_until": N_("Valid until"),
    "time_zone": N_("Time zone"),
    "file": N_("File"),
    "lines": N_("Lines"),
    "assortment": N_("Assortment"),
    "points_per_unit": N_("Points per currency unit"),
    "card_number": N_("Card number"),
    "first_name": N_("First name"),
    "last_name": N_("Last name"),
    "birth_date": N_("Birth date"),
    "address": N_("Address"),
    "recipient": N_("Recipient"),
    "line1": N_("Street and number"),
    "postal_code": N_("Postal code"),
    "city": N_("City"),
    "reference": N_("Your reference"),
    "instructions": N_("Delivery instructions"),
    "delivery_date": N_("Delivery date"),
    "payment_mode": N_("Payment"),
    "pickup_point_id": N_("Pick-up point"),
    "address_id": N_("Delivery"),
    "keep_address": N_("Delivery"),
    "fee_product_code": N_("Delivery fee"),
    "accept_terms": N_("Terms of sale"),
    "lead_time_days": N_("Working days between ordering and the earliest delivery"),
    "payment_modes": N_("Payment modes offered"),
    "delivery_fee_minor": N_("Delivery fee excl. VAT"),
    "delivery_vat_rate_bp": N_("VAT rate on the fee, in percent"),
    "free_delivery_from_minor": N_("Free delivery from (goods excl. VAT; empty: never)"),
    "quote_minutes": N_("Minutes a quote holds"),
    "closed_days": N_("Closed days"),
    "threshold_minor": N_("Approval threshold"),
    "seller_discount_bp": N_("Seller discount"),
    "reason": N_("Reason for a refusal"),
    "version": N_("Order"),
    "since": N_("Placed from"),
    "until": N_("Placed until"),
    "amount": N_("Amount"),
    "category": N_("Category"),
    "product": N_("Product"),
    "points": N_("Points"),
    "percent": N_("Percentage of the amount"),
    "every": N_("Every how many visits"),
    "min_amount": N_("Minimum amount"),
    "earns": N_("It gives"),
    "shop_id": N_("Shops"),
    "opening_hours": N_("Opening hours"),
    "rewards": N_("Rewards she can take now"),
    "title": N_("Title"),
    "gift": N_("The gift"),
    "points_cost": N_("Cost in points"),
    "every_visits": N_("Or free every how many visits"),
    "kind": N_("Kind"),
    "tenant_id": N_("Address of your space"),
    "pin": N_("PIN"),
    "take": N_("Amount to take, in euros"),
    "for_card": N_("Loyalty card of the customer it is for (optional)"),
    "count": N_("How many cards"),
    "label": N_("Name of the batch"),
    "expiry_months": N_("Points expire this many months after they were earned (empty: never)"),
    "warning_days": N_("Warn the customer this many days before"),
}


def field_name(name: str) -> str:
    """An API field's name for people: `valid_from` → "Valid from"."""
    known = _FIELDS.get(name.split(".")[0])
    return gettext(known) if known else name.replace("_", " ").replace(".", " ").capitalize()


TEMPLATE_GLOBALS["field_name"] = field_name


def amount(amount_minor: int, currency: str) -> str:
    """An amount as the reader types it, without the currency: `1290, "EUR"` → "12,90" in French."""
    precision = get_currency_precision(currency)
    pattern = "0." + "0" * precision if precision else "0"
    return format_decimal(Decimal(amount_minor).scaleb(-precision), format=pattern, locale=current_locale())


def parse_money(text: str, currency: str) -> int | None:
    """An amount typed the reader's way ("12,90" in French, "12.90" in English) in minor units of
    `currency`; None when it is not an amount or has more decimals than the currency."""
    try:
        typed = parse_decimal(text.strip().replace("\u00a0", "").replace(" ", ""), locale=current_locale())
    except NumberFormatError:
        return None
    minor = typed.scaleb(get_currency_precision(currency))
    return int(minor) if minor == minor.to_integral_value() and minor >= 0 else None


def parse_percent(text: str) -> int | None:
    """A rate typed in percent ("5,5" or "5.5") in basis points (550); None when it is not one."""
    try:
        rate = parse_decimal(text.strip().replace(" ", "").rstrip("%"), locale=current_locale()).scaleb(2)
    except NumberFormatError:
        return None
    return int(rate) if rate == rate.to_integral_value() and rate >= 0 else None


def local_input(value: str | None, time_zone: str) -> str:
    """A moment as a `datetime-local` field shows it, in the tenant's time zone ('' when none)."""
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%dT%H:%M")


TEMPLATE_GLOBALS["local_input"] = local_input


_CART_PROBLEMS = {
    "unknown-product": N_("Unknown product code."),
    "not-in-assortment": N_("Not in your organisation's assortment."),
    "inactive-product": N_("No longer for sale."),
    "currency-mismatch": N_("Priced in another currency than the rest of the order."),
}


def cart_problem(kind: str | None) -> str:
    """Why a cart line cannot be ordered now, in words."""
    return gettext(_CART_PROBLEMS[kind]) if kind in _CART_PROBLEMS else str(kind or "")


TEMPLATE_GLOBALS["cart_problem"] = cart_problem
