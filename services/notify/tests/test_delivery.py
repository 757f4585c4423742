"""From events to emails and SMS in the sinks: activation link or code, recovery code, order copy,
points, contacts arriving late or carrying a phone, duplicates, requests without their destination."""

# Russian text and the multiplication sign are meant, not look-alikes of Latin letters.
# ruff: noqa: RUF001

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from libs.common.limits import MAX_BALANCE, MAX_ENTRY_POINTS
from libs.devstack.sms import SmsSink
from libs.devstack.smtp import SmtpSink
from libs.devstack.stack import LocalStack
from libs.devstack.testing import ServiceUnderTest
from services.notify.tests.conftest import (
    TENANT,
    account,
    activation_requested,
    code_requested,
    contact_changed,
    event,
    mail_to,
    message_rows,
    notify_running,
    order_confirmed,
    points_awarded,
    publish_to,
    sms_to,
    subject_of,
    text_of,
    unique_address,
    unique_phone,
    wait_for_mail,
    wait_for_sms,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def notify(stack: LocalStack) -> AsyncIterator[ServiceUnderTest]:
    """One notify for the module (starting one costs seconds); tests use accounts of their own."""
    async with notify_running(stack) as running:
        yield running


async def statuses(notify: ServiceUnderTest, account_id: str) -> list[str]:
    return [row["status"] for row in await message_rows(notify.db, account_id)]


async def listed(notify: ServiceUnderTest, account_id: str) -> list[dict[str, object]]:
    admin = notify.tokens.headers(account_id="admin-1", tenant_id=TENANT, roles=["admin"])
    params = {"account_id": account_id}
    async with notify.http.get(f"{notify.url}/messages", headers=admin, params=params) as resp:
        assert resp.status == 200
        found: list[dict[str, object]] = await resp.json()
        return found


async def test_activation_request_emails_the_link_in_the_requested_language(
    notify: ServiceUnderTest, sink: SmtpSink
) -> None:
    customer = account()
    address, link = unique_address(), f"https://shop.example/activate?token={uuid.uuid4().hex}"

    await publish_to(notify, activation_requested(customer, address, link, locale="en"))

    [mail] = await wait_for_mail(sink, address)
    assert subject_of(mail) == "Activate your Comptoir account"
    assert link in text_of(mail)
    assert mail["From"] == "Comptoir <no-reply@comptoir.local>"

    async def recorded_sent() -> bool:
        return await statuses(notify, customer) == ["sent"]

    await wait_until(recorded_sent, "the message to be recorded as sent")
    [message] = await listed(notify, customer)
    assert (message["kind"], message["channel"], message["attempts"]) == ("activation", "email", 1)
    assert mail["Message-ID"] == f"<{message['id']}@comptoir.local>"
    assert "body" not in message, "the body holds the secret link: it is never listed"


async def test_activation_link_goes_by_sms_to_the_requested_phone(
    notify: ServiceUnderTest, sms_sink: SmsSink
) -> None:
    customer, phone = account(), unique_phone()
    link = f"https://shop.example/activate?token={uuid.uuid4().hex}"

    await publish_to(notify, activation_requested(customer, None, link, channel="sms", phone=phone))

    [sms] = await wait_for_sms(sms_sink, phone)
    assert sms.text == f"Bonjour Camille, activez votre compte Comptoir : {link}"

    async def recorded_sent() -> bool:
        return await statuses(notify, customer) == ["sent"]

    await wait_until(recorded_sent, "the SMS to be recorded as sent")
    [message] = await listed(notify, customer)
    assert (message["kind"], message["channel"], message["recipient"]) == ("activation", "sms", phone)
    assert message["subject"] is None and message["attempts"] == 1
    assert sms.reference == message["id"], "the provider can tell a retry from a new message"


async def test_activation_code_goes_by_sms_in_russian_and_by_email_in_english(
    notify: ServiceUnderTest, sink: SmtpSink, sms_sink: SmsSink
) -> None:
    phone, address = unique_phone(), unique_address()
    by_sms = code_requested(
        "identity.activation.code_requested", account(), channel="sms", to=phone, code="482913", locale="ru"
    )
    by_email = code_requested(
        "identity.activation.code_requested",
        account(),
        channel="email",
        to=address,
        code="105577",
        locale="en",
    )

    await publish_to(notify, by_sms, by_email)

    [sms] = await wait_for_sms(sms_sink, phone)
    # Cyrillic takes 70 characters an SMS: greeting by name would make it two, so it goes.
    assert sms.text == "Здравствуйте! Код активации Comptoir: 482913 (действует 10 минут)"
    [mail] = await wait_for_mail(sink, address)
    assert subject_of(mail) == "Your Comptoir activation code"
    body = text_of(mail)
    assert "\n    105577\n" in body and "valid for 10 minutes" in body


async def test_recovery_code_goes_by_sms_and_by_email_in_french(
    notify: ServiceUnderTest, sink: SmtpSink, sms_sink: SmsSink
) -> None:
    customer, phone, address = account(), unique_phone(), unique_address()
    for channel, to in (("sms", phone), ("email", address)):
        request = code_requested(
            "identity.recovery.requested", customer, channel=channel, to=to, code="774201"
        )
        await publish_to(notify, request)

    [sms] = await wait_for_sms(sms_sink, phone)
    assert sms.text == (
        "Bonjour Camille, votre code pour un nouveau mot de passe Comptoir : 774201 (valable 10 minutes)"
    )
    [mail] = await wait_for_mail(sink, address)
    assert subject_of(mail) == "Votre code pour choisir un nouveau mot de passe Comptoir"
    assert "\n    774201\n" in text_of(mail)

    async def both_sent() -> bool:
        return await statuses(notify, customer) == ["sent", "sent"]

    await wait_until(both_sent, "both recovery messages to be recorded as sent")
    kinds = {(m["kind"], m["channel"]) for m in await listed(notify, customer)}
    assert kinds == {("recovery", "sms"), ("recovery", "email")}


async def test_a_request_without_its_destination_is_dead_lettered_without_its_data(
    notify: ServiceUnderTest,
) -> None:
    customer, address = account(), unique_address()
    request = activation_requested(
        customer, address, "https://shop.example/a?token=t", channel="sms", phone=None
    )

    await publish_to(notify, request)

    async def dead() -> bool:
        return bool(await notify.db.fetchval("SELECT count(*) FROM dead_letters WHERE key = $1", customer))

    await wait_until(dead, "the request to be dead-lettered")
    error = await notify.db.fetchval("SELECT error FROM dead_letters WHERE key = $1", customer)
    assert "a request by sms needs its phone" in error
    assert address not in error and "token" not in error
    assert await message_rows(notify.db, customer) == []


async def test_contact_phone_is_kept_and_follows_changes(notify: ServiceUnderTest) -> None:
    customer, phone, other = account(), unique_phone(), unique_phone()
    await publish_to(notify, contact_changed(customer, unique_address(), phone=phone))

    async def phone_is(expected: str | None) -> bool:
        found = await notify.db.fetchval("SELECT phone FROM contacts WHERE account_id = $1", customer)
        return bool(found == expected)

    await wait_until(lambda: phone_is(phone), "the contact's phone to be recorded")
    await publish_to(notify, contact_changed(customer, unique_address(), phone=other))
    await wait_until(lambda: phone_is(other), "the new phone to replace the old one")
    await publish_to(notify, contact_changed(customer, unique_address()))
    await wait_until(lambda: phone_is(None), "a contact without a phone to clear it")


async def test_order_copy_goes_to_the_known_contact_with_lines_and_total(
    notify: ServiceUnderTest, sink: SmtpSink
) -> None:
    customer, address = account(), unique_address()
    await publish_to(notify, contact_changed(customer, address, locale="fr", name="Camille"))

    async def contact_known() -> bool:
        return bool(await notify.db.fetchval("SELECT count(*) FROM contacts WHERE account_id = $1", customer))

    await wait_until(contact_known, "the contact to be recorded")
    order = order_confirmed(customer)
    await publish_to(notify, order)

    [mail] = await wait_for_mail(sink, address)
    order_id = order.data["order_id"]
    assert subject_of(mail) == f"Votre commande {order_id}"
    body = text_of(mail)
    assert body.startswith("Bonjour Camille,")
    assert f"Commande {order_id}" in body
    assert "- CAF-250 Café moulu 250 g × 2 : 5,00 EUR" in body
    assert "- THE-750 Thé vert 75 g × 1 : 7,50 EUR" in body
    assert "Total : 12,50 EUR" in body


async def test_an_order_whose_payment_was_refused_is_told_to_its_buyer_with_the_reason(
    notify: ServiceUnderTest, sink: SmtpSink
) -> None:
    customer, address, order_id = account(), unique_address(), str(uuid.uuid4())
    reason = "loyalty refused the payment (gift_card: wrong-pin)"
    await publish_to(
        notify,
        contact_changed(customer, address, locale="en", name="Sam"),
        event(
            "ordering.order.payment_refused",
            subject=order_id,
            order_id=order_id,
            account_id=customer,
            reason=reason,
        ),
    )

    [mail] = await wait_for_mail(sink, address)
    assert subject_of(mail) == f"Your order {order_id} could not be paid"
    assert "your points, code or gift card were refused" in text_of(mail)
    assert reason not in text_of(mail)  # ordering's words for people who read logs, not for her


async def test_messages_wait_for_a_contact_that_arrives_after_them_then_are_sent(
    notify: ServiceUnderTest, sink: SmtpSink
) -> None:
    customer, address = account(), unique_address()
    await publish_to(notify, order_confirmed(customer), points_awarded(customer, points=12, balance=12))

    async def both_waiting() -> bool:
        return await statuses(notify, customer) == ["waiting_contact", "waiting_contact"]

    await wait_until(both_waiting, "the order copy and the points email to wait for the contact")
    assert not mail_to(sink, address)

    await publish_to(notify, contact_changed(customer, address, locale="ru", name="Анна"))

    mails = await wait_for_mail(sink, address, count=2)
    subjects = {subject_of(m) for m in mails}
    assert "Вам начислено 12 баллов" in subjects
    assert any(subject.startswith("Ваш заказ ") for subject in subjects)
    assert any("Итого: 12,50 EUR" in text_of(m) for m in mails)

    async def both_sent() -> bool:
        return await statuses(notify, customer) == ["sent", "sent"]

    await wait_until(both_sent, "both messages to be marked sent")
    assert all(row["facts"] is None for row in await message_rows(notify.db, customer))
    assert not await notify.db.fetchval("SELECT count(*) FROM dead_letters WHERE key = $1", customer)


async def test_points_award_tells_the_points_and_the_new_balance(
    notify: ServiceUnderTest, sink: SmtpSink
) -> None:
    customer, address = account(), unique_address()
    await publish_to(
        notify,
        contact_changed(customer, address, locale="en", name="Sam"),
        points_awarded(customer, points=120, balance=1250),
    )

    [mail] = await wait_for_mail(sink, address)
    assert subject_of(mail) == "You earned 120 points"
    assert "You earned 120 points. Your balance is 1,250 points." in text_of(mail)


async def test_the_same_event_delivered_twice_sends_one_message(
    notify: ServiceUnderTest, sink: SmtpSink, sms_sink: SmsSink
) -> None:
    customer, address, phone = account(), unique_address(), unique_phone()
    first = activation_requested(customer, address, "https://shop.example/activate?token=first")
    later = activation_requested(customer, address, "https://shop.example/activate?token=later")
    code = code_requested(
        "identity.activation.code_requested", customer, channel="sms", to=phone, code="123456"
    )
    # Same key, same partition: once `later` is mailed, every copy before it has been consumed.
    await publish_to(notify, first, code, first, code, later)

    mails = await wait_for_mail(sink, address, count=2)

    assert sorted("token=first" in text_of(m) for m in mails) == [False, True]
    await wait_for_sms(sms_sink, phone)
    assert len(await message_rows(notify.db, customer)) == 3
    assert len(sms_to(sms_sink, phone)) == 1


@pytest.mark.parametrize(
    ("points", "balance"), [(MAX_ENTRY_POINTS + 1, MAX_ENTRY_POINTS + 1), (1, MAX_BALANCE + 1)]
)
async def test_points_over_the_business_limits_are_dead_lettered_and_tell_nobody(
    notify: ServiceUnderTest, sink: SmtpSink, points: int, balance: int
) -> None:
    customer, address = account(), unique_address()
    await publish_to(notify, contact_changed(customer, address, locale="en", name="Sam"))
    await publish_to(notify, points_awarded(customer, points=points, balance=balance))

    async def dead() -> bool:
        return bool(await notify.db.fetchval("SELECT count(*) FROM dead_letters WHERE key = $1", customer))

    await wait_until(dead, "the award to be dead-lettered")
    assert await message_rows(notify.db, customer) == []
    # Another member (her later events wait behind the dead letter): at the limits, she is told.
    other, other_address = account(), unique_address()
    await publish_to(
        notify,
        contact_changed(other, other_address, locale="en", name="Ann"),
        points_awarded(other, points=MAX_ENTRY_POINTS, balance=MAX_BALANCE),
    )
    [mail] = await wait_for_mail(sink, other_address)
    assert subject_of(mail) == f"You earned {MAX_ENTRY_POINTS:,} points"
