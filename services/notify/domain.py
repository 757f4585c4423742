"""Notify's pure rules: what each message says, in which language, and when to give up sending it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from services.notify.templates import (
    DEFAULT_LOCALE,
    GREETINGS,
    ORDER_LINES,
    POINT_WORDS,
    TEMPLATES,
    Locale,
)

MAX_ATTEMPTS = 5
"""Refusals by the mail server after which a message is `failed`."""

Kind = Literal["activation", "order_copy", "points_earned"]
Status = Literal["waiting_contact", "queued", "sent", "failed"]


class Activation(BaseModel):
    """An account's activation link (it holds a secret token)."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["activation"] = "activation"
    activation_url: str


class OrderLine(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str
    name: str
    quantity: int
    line_total_minor: int


class OrderCopy(BaseModel):
    """A copy of a submitted order."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["order_copy"] = "order_copy"
    order_id: str
    lines: list[OrderLine]
    total_minor: int
    currency: str


class PointsEarned(BaseModel):
    """Loyalty points awarded, with the balance after them."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["points_earned"] = "points_earned"
    points: int
    balance: int


Facts = Annotated[Activation | OrderCopy | PointsEarned, Field(discriminator="kind")]
"""What a message says, before it is put into words for its recipient."""
FACTS: TypeAdapter[Facts] = TypeAdapter(Facts)


@dataclass(frozen=True)
class Addressee:
    """Who a message goes to, and the language they read."""

    email: str
    display_name: str
    locale: str


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def pick_locale(locale: str | None) -> Locale:
    """A supported language for `locale` ("fr", "en-GB", "RU"…), French when there is none."""
    language = (locale or "").strip().lower().replace("_", "-").split("-")[0]
    for supported in GREETINGS:
        if language == supported:
            return supported
    return DEFAULT_LOCALE


# Thousands separators as CLDR writes them: narrow no-break space in French, no-break space in Russian.
_THOUSANDS: dict[Locale, str] = {"fr": "\u202f", "en": ",", "ru": "\u00a0"}
_DECIMAL: dict[Locale, str] = {"fr": ",", "en": ".", "ru": ","}
# ISO 4217 currencies whose minor unit is not the cent.
_MINOR_DIGITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3, "TND": 3}


def format_count(value: int, locale: Locale) -> str:
    """An integer with the locale's thousands separator: 12 345 (fr), 12,345 (en)."""
    digits = f"{abs(value):,}".replace(",", _THOUSANDS[locale])
    return f"-{digits}" if value < 0 else digits


def format_money(minor: int, currency: str, locale: Locale) -> str:
    """An amount in minor units as people read it: "12,50 EUR" (fr), "12.50 EUR" (en)."""
    exponent = _MINOR_DIGITS.get(currency.upper(), 2)
    units, fraction = divmod(abs(minor), 10**exponent)
    amount = format_count(units, locale)
    if exponent:
        amount += f"{_DECIMAL[locale]}{fraction:0{exponent}d}"
    return f"{'-' if minor < 0 else ''}{amount} {currency}"


def plural(count: int, locale: Locale, forms: tuple[str, ...]) -> str:
    """The form of a word that goes with `count` (French: 0 and 1 are singular; Russian has three)."""
    n = abs(count)
    if locale == "ru":
        if n % 10 == 1 and n % 100 != 11:
            return forms[0]
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return forms[1]
        return forms[2]
    singular = n < 2 if locale == "fr" else n == 1
    return forms[0] if singular else forms[1]


def _points(count: int, locale: Locale) -> str:
    return f"{format_count(count, locale)} {plural(count, locale, POINT_WORDS[locale])}"


def _greeting(name: str, locale: Locale) -> str:
    with_name, without = GREETINGS[locale]
    return with_name.substitute(name=name.strip()) if name.strip() else without


def render(facts: Facts, to: Addressee) -> Rendered:
    """Subject and body of a message for this addressee, in their language (French by default)."""
    locale = pick_locale(to.locale)
    values: dict[str, str] = {"greeting": _greeting(to.display_name, locale)}
    if isinstance(facts, Activation):
        values["activation_url"] = facts.activation_url
    elif isinstance(facts, OrderCopy):
        values["order_id"] = facts.order_id
        values["total"] = format_money(facts.total_minor, facts.currency, locale)
        values["lines"] = "\n".join(
            ORDER_LINES[locale].substitute(
                code=line.code,
                name=line.name,
                quantity=format_count(line.quantity, locale),
                line_total=format_money(line.line_total_minor, facts.currency, locale),
            )
            for line in facts.lines
        )
    else:
        values["points"] = _points(facts.points, locale)
        values["balance"] = _points(facts.balance, locale)
    template = TEMPLATES[facts.kind][locale]
    # One line, whatever the event held: a line break in a header would break (or forge) headers.
    subject = " ".join(template.subject.substitute(values).split())
    return Rendered(subject, template.body.substitute(values))


@dataclass(frozen=True)
class Retry:
    """What becomes of a message the mail server refused."""

    status: Status
    next_attempt_at: datetime


def after_refusal(attempts: int, now: datetime) -> Retry:
    """`attempts` counts this one. Waits 30 s, 1 min, 2 min… between tries; fails at MAX_ATTEMPTS."""
    if attempts >= MAX_ATTEMPTS:
        return Retry("failed", now)
    return Retry("queued", now + timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600)))
