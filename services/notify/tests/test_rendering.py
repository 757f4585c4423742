"""Pure rules: templates per kind, channel and locale, amounts, durations and plurals, SMS length,
retry schedule, SMTP URL and headers."""

# Russian expectations are meant, not look-alikes of Latin letters.
# ruff: noqa: RUF001

from __future__ import annotations

import email
import email.policy
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.notify.dispatch import SmtpServer, compose, message_id_header
from services.notify.domain import (
    MAX_ATTEMPTS,
    Activation,
    ActivationCode,
    Addressee,
    Facts,
    GiftCardReceived,
    OrderCopy,
    OrderLine,
    PointsEarned,
    PointsExpiring,
    RecoveryCode,
    Rendered,
    VoucherWon,
    after_refusal,
    format_duration,
    format_money,
    pick_locale,
    plural,
    render,
    sms_segments,
)
from services.notify.store import OutgoingMessage
from services.notify.templates import POINT_WORDS, SMS_TEMPLATES, TEMPLATES

pytestmark = pytest.mark.fast

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
    return Addressee(display_name=name, locale=locale)


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
    ("kind", "locale", "subject", "excerpt"),
    [
        ("order_to_approve", "fr", "Commande PO-9 à valider", "attend votre validation"),
        ("order_to_approve", "ru", "Заказ PO-9 ждёт согласования", "ждёт вашего согласования"),
        ("order_waiting", "en", "Your order PO-9 waits for approval", "Total: 12.50 EUR"),
        ("order_approved", "fr", "Votre commande PO-9 est validée", "- THE-750 Thé × 1"),
        ("order_refused", "fr", "Votre commande PO-9 est refusée", "Motif : Budget dépassé"),
        ("order_refused", "en", "Your order PO-9 is refused", "Reason: Budget dépassé"),
        ("order_payment_refused", "fr", "Votre commande PO-9 n'a pas pu être réglée", "vous est rendu"),
        ("order_payment_refused", "ru", "Ваш заказ PO-9 не удалось оплатить", "подарочная карта"),
        ("order_modified", "ru", "Ваш заказ PO-9 изменён", "Итого:"),
        ("order_copy_team", "fr", "Copie de la commande PO-9", "Une commande de votre organisation"),
        ("return_accepted", "fr", "Votre retour de la commande PO-9 est accepté", "crédité de 12,50 EUR"),
        ("return_accepted", "en", "Your return from order PO-9 is accepted", "- CAF-250 Café × 2: 5.00 EUR"),
        ("return_refused", "ru", "Ваш возврат по заказу PO-9 отклонён", "Причина: Budget dépassé"),
    ],
)
def test_news_of_an_orders_approval_names_it_by_its_reference(
    kind: str, locale: str, subject: str, excerpt: str
) -> None:
    news = ORDER.model_copy(update={"kind": kind, "reference": "PO-9", "reason": "Budget dépassé"})
    rendered = render(news, to(locale))
    assert rendered.subject == subject
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


def test_identity_requests_have_sms_wording_in_every_locale() -> None:
    assert sorted(SMS_TEMPLATES) == ["activation", "activation_code", "recovery"]
    for kind in SMS_TEMPLATES:
        assert sorted(SMS_TEMPLATES[kind]) == ["en", "fr", "ru"]


TEN_MINUTES = timedelta(minutes=10)
LINK = "https://comptoir.example/activate?token=" + "x" * 43  # a URL-safe 32-byte token
ACTIVATION_CODE = ActivationCode(code="482913", valid_for=TEN_MINUTES)
RECOVERY_CODE = RecoveryCode(code="774201", valid_for=TEN_MINUTES)


@pytest.mark.parametrize(
    ("facts", "locale", "expected"),
    [
        (Activation(activation_url=LINK), "fr", f"Bonjour Anna, activez votre compte Comptoir : {LINK}"),
        (Activation(activation_url=LINK), "en", f"Hello Anna, activate your Comptoir account: {LINK}"),
        (
            Activation(activation_url=LINK),
            "ru",
            f"Здравствуйте! Активируйте учётную запись Comptoir: {LINK}",
        ),
        (
            ACTIVATION_CODE,
            "fr",
            "Bonjour Anna, votre code d'activation Comptoir : 482913 (valable 10 minutes)",
        ),
        (ACTIVATION_CODE, "en", "Hello Anna, your Comptoir activation code: 482913 (valid for 10 minutes)"),
        (ACTIVATION_CODE, "ru", "Здравствуйте! Код активации Comptoir: 482913 (действует 10 минут)"),
        (
            RECOVERY_CODE,
            "fr",
            "Bonjour Anna, votre code pour un nouveau mot de passe Comptoir : 774201 (valable 10 minutes)",
        ),
        (
            RECOVERY_CODE,
            "en",
            "Hello Anna, your code for a new Comptoir password: 774201 (valid for 10 minutes)",
        ),
        (
            RECOVERY_CODE,
            "ru",
            "Здравствуйте, Anna! Код для смены пароля Comptoir: 774201 (действует 10 минут)",
        ),
    ],
)
def test_sms_says_only_a_greeting_and_the_link_or_code(facts: Facts, locale: str, expected: str) -> None:
    rendered = render(facts, to(locale), "sms")
    assert rendered == Rendered(None, expected)


@pytest.mark.parametrize("facts", [Activation(activation_url=LINK), ACTIVATION_CODE, RECOVERY_CODE])
@pytest.mark.parametrize("locale", ["fr", "en"])
def test_french_and_english_sms_fit_one_gsm_segment(facts: Facts, locale: str) -> None:
    text = render(facts, to(locale, name="Marie-Christine"), "sms").body
    assert sms_segments(text) == 1
    assert "Marie-Christine" in text


def test_a_name_that_would_cost_another_sms_is_left_out() -> None:
    short = render(ACTIVATION_CODE, to("ru", name="Ян"), "sms").body
    assert short.startswith("Здравствуйте, Ян! ")
    long_name = "Анна-Мария Константиновна"
    assert render(ACTIVATION_CODE, to("ru", name=long_name), "sms").body.startswith("Здравствуйте! ")
    # A name outside the GSM alphabet would turn a French SMS into UCS-2 and split it.
    assert render(Activation(activation_url=LINK), to("fr", name="Zoë"), "sms").body.startswith("Bonjour, ")


def test_sms_stays_on_one_line_whatever_the_name_holds() -> None:
    text = render(ACTIVATION_CODE, to("en", name="Sam\r\nEvil  text"), "sms").body
    assert text.startswith("Hello Sam Evil text, your Comptoir activation code") and "\n" not in text


@pytest.mark.parametrize(
    ("facts", "locale", "subject", "excerpts"),
    [
        (
            ACTIVATION_CODE,
            "fr",
            "Votre code d'activation Comptoir",
            ["Bonjour Anna,", "\n    482913\n", "valable 10 minutes", "ne sert qu'une fois"],
        ),
        (
            ACTIVATION_CODE,
            "en",
            "Your Comptoir activation code",
            ["Hello Anna,", "\n    482913\n", "valid for 10 minutes", "works once"],
        ),
        (
            ACTIVATION_CODE,
            "ru",
            "Код активации Comptoir",
            ["Здравствуйте, Anna!", "\n    482913\n", "действует 10 минут", "только один раз"],
        ),
        (
            RECOVERY_CODE,
            "fr",
            "Votre code pour choisir un nouveau mot de passe Comptoir",
            ["Bonjour Anna,", "\n    774201\n", "valable 10 minutes", "votre mot de passe ne change pas"],
        ),
        (
            RECOVERY_CODE,
            "en",
            "Your code to choose a new Comptoir password",
            ["Hello Anna,", "\n    774201\n", "valid for 10 minutes", "your password stays as it is"],
        ),
        (
            RECOVERY_CODE,
            "ru",
            "Код для смены пароля Comptoir",
            ["Здравствуйте, Anna!", "\n    774201\n", "действует 10 минут", "пароль останется прежним"],
        ),
    ],
)
def test_code_emails_carry_the_code_and_how_long_it_lasts_in_each_locale(
    facts: Facts, locale: str, subject: str, excerpts: list[str]
) -> None:
    rendered = render(facts, to(locale), "email")
    assert rendered.subject == subject
    for excerpt in excerpts:
        assert excerpt in rendered.body


@pytest.mark.parametrize(
    ("locale", "subject", "until"),
    [
        ("fr", "Votre code : 10 % off", "18/06/2026"),
        ("en", "Your code: 10 % off", "2026-06-18"),
        ("ru", "Ваш код: 10 % off", "18.06.2026"),
    ],
)
def test_a_voucher_email_carries_its_code_and_until_when_in_each_locale(
    locale: str, subject: str, until: str
) -> None:
    won = VoucherWon(title="10 % off", code="K7QM-2XRT-P4ZD-9WLB", expires_on=datetime(2026, 6, 18).date())
    rendered = render(won, to(locale))
    assert rendered.subject == subject
    assert "K7QM-2XRT-P4ZD-9WLB" in rendered.body and until in rendered.body


@pytest.mark.parametrize(
    ("locale", "subject", "pin_line", "printed"),
    [
        ("fr", "Une carte cadeau de 50,00 EUR pour vous", "Code PIN : 482913", "imprimé au dos"),
        ("en", "A 50.00 EUR gift card for you", "PIN: 482913", "printed on the back"),
        ("ru", "Подарочная карта на 50,00 EUR для вас", "PIN-код: 482913", "напечатан на обороте"),
    ],
)
def test_a_gift_card_email_gives_its_number_and_pin_or_says_where_the_pin_is(
    locale: str, subject: str, pin_line: str, printed: str
) -> None:
    virtual = GiftCardReceived(
        number="4839201756482913",
        pin="482913",
        amount_minor=5000,
        currency="EUR",
        expires_on=date(2027, 3, 20),
    )
    rendered = render(virtual, to(locale))
    assert rendered.subject == subject and "4839201756482913" in rendered.body and pin_line in rendered.body
    physical = render(virtual.model_copy(update={"pin": None}), to(locale))
    assert printed in physical.body and pin_line not in physical.body


@pytest.mark.parametrize(
    ("locale", "subject", "sentence"),
    [
        ("fr", "Vos points expirent bientôt", "le 02/03/2027"),
        ("en", "Your points expire soon", "on 2027-03-02"),
        ("ru", "Ваши баллы скоро сгорят", "02.03.2027"),
    ],
)
def test_an_expiry_warning_says_how_many_points_and_when(locale: str, subject: str, sentence: str) -> None:
    rendered = render(PointsExpiring(points=12, expires_on=datetime(2027, 3, 2).date()), to(locale))
    assert rendered.subject == subject and sentence in rendered.body and "12" in rendered.body


@pytest.mark.parametrize("facts", [ORDER, PointsEarned(points=1, balance=1)])
def test_order_copies_and_points_are_not_written_as_sms(facts: Facts) -> None:
    with pytest.raises(ValueError, match="not sent by SMS"):
        render(facts, to("fr"), "sms")


@pytest.mark.parametrize(
    ("duration", "locale", "expected"),
    [
        (timedelta(minutes=10), "fr", "10 minutes"),
        (timedelta(minutes=10, milliseconds=-3), "en", "10 minutes"),
        (timedelta(minutes=1), "fr", "1 minute"),
        (timedelta(seconds=5), "en", "1 minute"),
        (timedelta(minutes=1), "ru", "1 минуту"),
        (timedelta(minutes=3), "ru", "3 минуты"),
        (timedelta(minutes=15), "ru", "15 минут"),
        (timedelta(hours=2), "fr", "2 heures"),
        (timedelta(hours=2, minutes=59), "en", "2 hours"),
        (timedelta(hours=24), "ru", "24 часа"),
        (timedelta(hours=21), "ru", "21 час"),
        (timedelta(days=3), "fr", "3 jours"),
        (timedelta(days=7), "ru", "7 дней"),
    ],
)
def test_durations_read_as_people_say_them_never_longer_than_they_are(
    duration: timedelta, locale: str, expected: str
) -> None:
    assert format_duration(duration, locale) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("é" * 160, 1),  # in the GSM alphabet
        ("€" * 80, 1),  # an extension character counts twice
        ("€" * 81, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("ж" * 70, 1),
        ("ж" * 71, 2),
        ("ê" + "a" * 69, 1),  # ê is not GSM: the whole text is UCS-2
        ("ê" + "a" * 70, 2),
    ],
)
def test_sms_segments_follow_the_gsm_and_ucs2_limits(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


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
    subject = render(forged, to("fr")).subject
    assert subject is not None and "\n" not in subject


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


def test_an_email_without_a_subject_cannot_be_composed() -> None:
    outgoing = OutgoingMessage(
        id=uuid.uuid4(), recipient="a@example.test", subject=None, body="b", attempts=0
    )
    with pytest.raises(ValueError, match="subject"):
        compose(outgoing, "Comptoir <no-reply@comptoir.local>", datetime.now(UTC))


def test_message_id_is_derived_from_the_message_id() -> None:
    message_id = uuid.uuid4()
    outgoing = OutgoingMessage(
        id=message_id, recipient="a@example.test", subject="Сумма", body="Тело", attempts=0
    )
    mail = email.message_from_bytes(
        compose(outgoing, "Comptoir <no-reply@comptoir.local>", datetime.now(UTC)),
        policy=email.policy.default,
    )
    assert mail["Message-ID"] == message_id_header(message_id, "Comptoir <no-reply@comptoir.local>")
    assert mail["Message-ID"] == f"<{message_id}@comptoir.local>"
    assert mail["To"] == "a@example.test" and mail["Subject"] == "Сумма"
    assert mail.get_content().strip() == "Тело"


@pytest.mark.parametrize(
    "subject",
    [
        "Order received",
        "Votre commande a été reçue",
        "Вы получили 1234 балла за заказ — спасибо, что вы с нами!",
    ],
)
def test_composed_emails_read_back_whole_whatever_the_subject(subject: str) -> None:
    link = "https://shop.example/activate?token=" + "a" * 120
    outgoing = OutgoingMessage(
        id=uuid.uuid4(),
        recipient="a@example.test",
        subject=subject,
        body=f"Bonjour Léa,\n{link}\n",
        attempts=0,
    )
    raw = compose(outgoing, "Comptoir <no-reply@comptoir.local>", datetime.now(UTC))
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Subject"] == subject and mail["To"] == "a@example.test"
    assert mail["Content-Transfer-Encoding"] == "8bit" and link in raw.decode()  # the link on one line
