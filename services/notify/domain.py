"""Notify's pure rules: what each message says, in which language, and when to give up sending it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from services.notify.templates import (
    DEFAULT_LOCALE,
    DURATION_WORDS,
    GREETINGS,
    ORDER_LINES,
    PIN_LINES,
    POINT_WORDS,
    PRINTED_PIN_LINES,
    SMS_TEMPLATES,
    TEMPLATES,
    Locale,
)

MAX_ATTEMPTS = 5
"""Refusals by the mail server or the SMS provider after which a message is `failed`."""

OrderKind = Literal[
    "order_copy",  # to the buyer: her order is confirmed
    "order_copy_team",  # to her organisation's validators: a copy
    "order_to_approve",  # to the validators: an order waits for their decision
    "order_waiting",  # to the buyer: her order waits for approval
    "order_approved",  # to the buyer: approved (and so confirmed)
    "order_refused",  # to the buyer: refused, with the reason
    "order_payment_refused",  # to the buyer: what was to pay part of it failed; it goes no further
    "order_modified",  # to the buyer: a validator changed it
    "return_accepted",  # to the buyer: goods she sent back are accepted, credited to her balance
    "return_refused",  # to the buyer: her return is refused, with the reason
]
Kind = (
    Literal[
        "activation",
        "activation_code",
        "recovery",
        "points_earned",
        "points_expiring",
        "voucher_won",
        "giftcard_received",
    ]
    | OrderKind
)
Channel = Literal["email", "sms"]
CHANNELS: tuple[Channel, ...] = ("email", "sms")
Status = Literal["waiting_contact", "queued", "sent", "failed", "cancelled"]


class Activation(BaseModel):
    """An account's activation link (it holds a secret token)."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["activation"] = "activation"
    activation_url: str


class ActivationCode(BaseModel):
    """A numeric code that activates an account, typed instead of following a link (secret)."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["activation_code"] = "activation_code"
    code: str
    valid_for: timedelta


class RecoveryCode(BaseModel):
    """A temporary numeric code that lets the person choose a new password (secret)."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["recovery"] = "recovery"
    code: str
    valid_for: timedelta


class OrderLine(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str
    name: str
    quantity: int
    line_total_minor: int


class OrderCopy(BaseModel):
    """News of an order, with its lines and what the buyer pays (VAT included): its copy once
    confirmed, or a step of its approval (`kind`)."""

    model_config = ConfigDict(frozen=True)
    kind: OrderKind = "order_copy"
    order_id: str
    lines: list[OrderLine] = Field(default_factory=list)  # none in a refusal's news
    total_minor: int = 0
    currency: str = ""
    reference: str | None = None
    reason: str | None = None  # a refusal's (of the order or of a return)


class PointsEarned(BaseModel):
    """Loyalty points awarded, with the balance after them."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["points_earned"] = "points_earned"
    points: int
    balance: int


class VoucherWon(BaseModel):
    """A reward taken online: its single-use code (a secret) and until when it works."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["voucher_won"] = "voucher_won"
    title: str
    code: str
    expires_on: date


class GiftCardReceived(BaseModel):
    """A gift card sold for her: its number and, for a virtual card, its PIN (secrets together)."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["giftcard_received"] = "giftcard_received"
    number: str
    pin: str | None  # a physical card's is printed on it
    amount_minor: int
    currency: str
    expires_on: date


class PointsExpiring(BaseModel):
    """Some of her points expire soon."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["points_expiring"] = "points_expiring"
    points: int
    expires_on: date


Facts = Annotated[
    Activation
    | ActivationCode
    | RecoveryCode
    | OrderCopy
    | PointsEarned
    | VoucherWon
    | GiftCardReceived
    | PointsExpiring,
    Field(discriminator="kind"),
]
"""What a message says, before it is put into words for its recipient."""
FACTS: TypeAdapter[Facts] = TypeAdapter(Facts)


@dataclass(frozen=True)
class Addressee:
    """Whom a message is written to: how to greet them and the language they read."""

    display_name: str
    locale: str


@dataclass(frozen=True)
class Contact(Addressee):
    """How to reach an account's owner, as identity last told (identity.contact.changed)."""

    email: str
    phone: str | None = None


@dataclass(frozen=True)
class Rendered:
    """A message put into words: an email has a subject, an SMS only its text (`body`)."""

    subject: str | None
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


def format_day(day: date, locale: Locale) -> str:
    """A day as people of this locale write it: 18/06/2026 (fr), 2026-06-18 (en), 18.06.2026 (ru)."""
    return {"fr": day.strftime("%d/%m/%Y"), "en": day.isoformat(), "ru": day.strftime("%d.%m.%Y")}[locale]


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


def format_duration(duration: timedelta, locale: Locale) -> str:
    """How long something lasts, as a sentence says it: "10 minutes", "2 heures", "3 дня".

    Minutes are rounded (the request's clock and the code's expiry are a few milliseconds apart);
    hours and days are rounded down, so a message never promises more time than there is."""
    minutes = max(1, round(duration.total_seconds() / 60))
    if minutes < 120:
        unit, count = "minutes", minutes
    elif minutes < 48 * 60:
        unit, count = "hours", minutes // 60
    else:
        unit, count = "days", minutes // (24 * 60)
    return f"{format_count(count, locale)} {plural(count, locale, DURATION_WORDS[unit][locale])}"


def _greeting(name: str, locale: Locale) -> str:
    with_name, without = GREETINGS[locale]
    name = " ".join(name.split())  # one line, whatever the event held
    return with_name.substitute(name=name) if name else without


# GSM 03.38: the 7-bit alphabet of SMS (the extension characters cost two), else UCS-2.
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = set("^{}\\[~]|€\f")


def sms_segments(text: str) -> int:
    """How many SMS a text takes: 160 GSM 7-bit characters in one (153 each when split), or 70
    UCS-2 units (67 when split) as soon as one character is outside the GSM alphabet."""
    if all(c in _GSM7 or c in _GSM7_EXTENSION for c in text):
        units, single, part = sum(2 if c in _GSM7_EXTENSION else 1 for c in text), 160, 153
    else:
        units, single, part = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else math.ceil(units / part)


def render(facts: Facts, to: Addressee, channel: Channel = "email") -> Rendered:
    """A message for this addressee, in their language (French by default): subject and body of
    an email, or the one line of an SMS."""
    locale = pick_locale(to.locale)
    values = _values(facts, locale)
    if channel == "sms":
        return _render_sms(facts.kind, values, to.display_name, locale)
    values["greeting"] = _greeting(to.display_name, locale)
    template = TEMPLATES[facts.kind][locale]
    # One line, whatever the event held: a line break in a header would break (or forge) headers.
    subject = " ".join(template.subject.substitute(values).split())
    return Rendered(subject, template.body.substitute(values))


def _render_sms(kind: str, values: dict[str, str], name: str, locale: Locale) -> Rendered:
    if kind not in SMS_TEMPLATES:
        raise ValueError(f"{kind} messages are not sent by SMS")
    template = SMS_TEMPLATES[kind][locale]

    def text(greeted: str) -> str:
        return " ".join(template.substitute(values, greeting=_greeting(greeted, locale)).split())

    greeted = text(name)
    # A long name, or one outside the GSM alphabet, must not double what the SMS costs.
    nameless = text("")
    return Rendered(None, nameless if sms_segments(nameless) < sms_segments(greeted) else greeted)


def _values(facts: Facts, locale: Locale) -> dict[str, str]:
    """What a template says for these facts, written for this locale (the greeting aside)."""
    values: dict[str, str] = {}
    if isinstance(facts, Activation):
        values["activation_url"] = facts.activation_url
    elif isinstance(facts, ActivationCode | RecoveryCode):
        values["code"] = facts.code
        values["validity"] = format_duration(facts.valid_for, locale)
    elif isinstance(facts, OrderCopy):
        values["order_id"] = facts.reference or facts.order_id
        values["reason"] = facts.reason or ""
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
    elif isinstance(facts, PointsExpiring):
        values["points"] = _points(facts.points, locale)
        values["expires_on"] = format_day(facts.expires_on, locale)
    elif isinstance(facts, GiftCardReceived):
        values["amount"] = format_money(facts.amount_minor, facts.currency, locale)
        values["number"] = facts.number
        values["pin_line"] = (
            PIN_LINES[locale].substitute(pin=facts.pin) if facts.pin else PRINTED_PIN_LINES[locale]
        )
        values["expires_on"] = format_day(facts.expires_on, locale)
    elif isinstance(facts, VoucherWon):
        values["title"] = facts.title
        values["code"] = facts.code
        values["expires_on"] = format_day(facts.expires_on, locale)
    else:
        values["points"] = _points(facts.points, locale)
        values["balance"] = _points(facts.balance, locale)
    return values


@dataclass(frozen=True)
class Retry:
    """What becomes of a message the mail server or the SMS provider refused."""

    status: Status
    next_attempt_at: datetime


def after_refusal(attempts: int, now: datetime) -> Retry:
    """`attempts` counts this one. Waits 30 s, 1 min, 2 min… between tries; fails at MAX_ATTEMPTS."""
    if attempts >= MAX_ATTEMPTS:
        return Retry("failed", now)
    return Retry("queued", now + timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600)))
