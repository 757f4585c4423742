"""Pure rules: templates per locale, amounts and plurals, retry schedule, SMTP URL and headers."""

# Russian expectations are meant, not look-alikes of Latin letters.
# ruff: noqa: RUF001

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.notify.dispatch import SmtpServer, compose, message_id_header
from services.notify.domain import (
    MAX_ATTEMPTS,
    Activation,
    Addressee,
    Facts,
    OrderCopy,
    OrderLine,
    PointsEarned,
    after_refusal,
    format_money,
    pick_locale,
    plural,
    render,
)
from services.notify.store import OutgoingMessage
from services.notify.templates import POINT_WORDS, TEMPLATES

ORDER = OrderCopy(
    order_id="3f1c",
    lines=[
        OrderLine(code="CAF-250", name="Café", quantity=2, line_total_minor=500),
        OrderLine(code="THE-750", name="Thé", quantity=1, line_total_minor=750),
    ],
    total_minor=1250,
    currency="EUR",
)


def to(locale: str, name: str = "Anna") -> Addressee:
    return Addressee("anna@example.test", name, locale)


@pytest.mark.parametrize(
    ("locale", "subject", "excerpts"),
    [
        (
            "fr",
            "Votre commande 3f1c",
            ["Bonjour Anna,", "- CAF-250 Café × 2 : 5,00 EUR", "Total : 12,50 EUR"],
        ),
        ("en", "Your order 3f1c", ["Hello Anna,", "- CAF-250 Café × 2: 5.00 EUR", "Total: 12.50 EUR"]),
        ("ru", "Ваш заказ 3f1c", ["Здравствуйте, Anna!", "- THE-750 Thé × 1: 7,50 EUR", "Итого: 12,50 EUR"]),
    ],
)
def test_order_copy_renders_in_each_locale(locale: str, subject: str, excerpts: list[str]) -> None:
    rendered = render(ORDER, to(locale))
    assert rendered.subject == subject
    for excerpt in excerpts:
        assert excerpt in rendered.body


@pytest.mark.parametrize(
    ("locale", "subject", "sentence"),
    [
        ("fr", "Vous avez gagné 1 point", "Vous avez gagné 1 point. Votre solde est de 1\u202f250 points."),
        ("en", "You earned 1 point", "You earned 1 point. Your balance is 1,250 points."),
        ("ru", "Вам начислено 1 балл", "Вам начислено 1 балл. Ваш баланс: 1\u00a0250 баллов."),
    ],
)
def test_points_email_renders_points_and_balance_in_each_locale(
    locale: str, subject: str, sentence: str
) -> None:
    rendered = render(PointsEarned(points=1, balance=1250), to(locale))
    assert rendered.subject == subject
    assert sentence in rendered.body


@pytest.mark.parametrize(
    ("locale", "subject"),
    [
        ("fr", "Activez votre compte Comptoir"),
        ("en", "Activate your Comptoir account"),
        ("ru", "Активируйте учётную запись Comptoir"),
    ],
)
def test_activation_email_carries_the_link_in_each_locale(locale: str, subject: str) -> None:
    link = "https://shop.example/activate?token=abc"
    rendered = render(Activation(activation_url=link), to(locale))
    assert rendered.subject == subject
    assert f"\n{link}\n" in rendered.body


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_every_kind_has_every_locale(kind: str) -> None:
    assert sorted(TEMPLATES[kind]) == ["en", "fr", "ru"]


@pytest.mark.parametrize("facts", [Activation(activation_url="u"), ORDER, PointsEarned(points=2, balance=3)])
def test_unknown_or_missing_locale_falls_back_to_french(facts: Facts) -> None:
    assert render(facts, to("de")) == render(facts, to("fr")) == render(facts, to(""))


def test_regional_locales_use_their_language() -> None:
    assert (pick_locale("en-GB"), pick_locale("RU"), pick_locale("fr_CA"), pick_locale(None)) == (
        "en",
        "ru",
        "fr",
        "fr",
    )


def test_greeting_without_a_name_stays_polite() -> None:
    assert render(ORDER, to("fr", name="  ")).body.startswith("Bonjour,\n")
    assert render(ORDER, to("ru", name="")).body.startswith("Здравствуйте!\n")


def test_subject_stays_on_one_line_whatever_the_event_holds() -> None:
    forged = ORDER.model_copy(update={"order_id": "1\r\nBcc: victim@example.test"})
    assert "\n" not in render(forged, to("fr")).subject


@pytest.mark.parametrize(
    ("minor", "currency", "locale", "expected"),
    [
        (1250, "EUR", "fr", "12,50 EUR"),
        (1250, "EUR", "en", "12.50 EUR"),
        (1250, "EUR", "ru", "12,50 EUR"),
        (5, "EUR", "fr", "0,05 EUR"),
        (123456789, "EUR", "en", "1,234,567.89 EUR"),
        (123456789, "EUR", "fr", "1\u202f234\u202f567,89 EUR"),
        (-1250, "EUR", "fr", "-12,50 EUR"),
        (1500, "JPY", "en", "1,500 JPY"),
    ],
)
def test_money_reads_as_people_write_it(minor: int, currency: str, locale: str, expected: str) -> None:
    assert format_money(minor, currency, locale) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("count", "word"),
    [(0, "баллов"), (1, "балл"), (2, "балла"), (5, "баллов"), (11, "баллов"), (21, "балл"), (112, "баллов")],
)
def test_russian_has_three_plural_forms(count: int, word: str) -> None:
    assert plural(count, "ru", POINT_WORDS["ru"]) == word


def test_french_zero_and_one_are_singular_unlike_english() -> None:
    assert [plural(n, "fr", POINT_WORDS["fr"]) for n in (0, 1, 2)] == ["point", "point", "points"]
    assert [plural(n, "en", POINT_WORDS["en"]) for n in (0, 1, 2)] == ["points", "point", "points"]


def test_refused_message_backs_off_then_fails_at_the_last_attempt() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert after_refusal(1, now).status == "queued"
    assert after_refusal(1, now).next_attempt_at == now + timedelta(seconds=30)
    assert after_refusal(2, now).next_attempt_at == now + timedelta(seconds=60)
    assert after_refusal(MAX_ATTEMPTS - 1, now).status == "queued"
    assert after_refusal(MAX_ATTEMPTS, now).status == "failed"


def test_smtp_url_gives_host_port_tls_and_credentials() -> None:
    assert SmtpServer.from_url("smtp://127.0.0.1:1025") == SmtpServer("127.0.0.1", 1025)
    assert SmtpServer.from_url("smtps://mailer:p%40ss@mail.example") == SmtpServer(
        "mail.example", 465, use_tls=True, username="mailer", password="p@ss"
    )
    with pytest.raises(ValueError, match="smtp://"):
        SmtpServer.from_url("http://mail.example")


def test_message_id_is_derived_from_the_message_id() -> None:
    message_id = uuid.uuid4()
    outgoing = OutgoingMessage(
        id=message_id, recipient="a@example.test", subject="Сумма", body="Тело", attempts=0
    )
    mail = compose(outgoing, "Comptoir <no-reply@comptoir.local>", datetime.now(UTC))
    assert mail["Message-ID"] == message_id_header(message_id, "Comptoir <no-reply@comptoir.local>")
    assert mail["Message-ID"] == f"<{message_id}@comptoir.local>"
    assert mail["To"] == "a@example.test" and mail["Subject"] == "Сумма"
    assert mail.get_content().strip() == "Тело"
