"""From events to emails in the sink: activation, order copy, points, contacts arriving late, duplicates."""

# Russian text and the multiplication sign are meant, not look-alikes of Latin letters.
# ruff: noqa: RUF001

from __future__ import annotations

import uuid

import asyncpg
from aiohttp import ClientSession

from libs.common.stack import SmtpSink
from libs.common.testing import TokenMinter
from services.notify.tests.conftest import (
    TENANT,
    Publish,
    activation_requested,
    contact_changed,
    mail_to,
    order_submitted,
    points_awarded,
    subject_of,
    text_of,
    unique_address,
    wait_for_mail,
    wait_until,
)


def account() -> str:
    return str(uuid.uuid4())


async def statuses(pool: asyncpg.Pool, account_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT status FROM messages WHERE account_id = $1 ORDER BY created_at", account_id
    )
    return [row["status"] for row in rows]


async def test_activation_request_emails_the_link_in_the_requested_language(
    notify: str, publish: Publish, sink: SmtpSink, tokens: TokenMinter
) -> None:
    address, link = unique_address(), f"https://shop.example/activate?token={uuid.uuid4().hex}"
    request = activation_requested(account(), address, link, locale="en")

    await publish(request)

    [mail] = await wait_for_mail(sink, address)
    assert subject_of(mail) == "Activate your Comptoir account"
    assert link in text_of(mail)
    assert mail["From"] == "Comptoir <no-reply@comptoir.local>"
    admin = tokens.headers(account_id="admin-1", tenant_id=TENANT, roles=["admin"])
    async with ClientSession() as http, http.get(f"{notify}/messages", headers=admin) as resp:
        [listed] = await resp.json()
    assert listed["status"] == "sent" and listed["kind"] == "activation" and listed["attempts"] == 1
    assert mail["Message-ID"] == f"<{listed['id']}@comptoir.local>"
    assert "body" not in listed, "the body holds the secret link: it is never listed"


async def test_order_copy_goes_to_the_known_contact_with_lines_and_total(
    notify: str, publish: Publish, sink: SmtpSink, pool: asyncpg.Pool
) -> None:
    customer, address = account(), unique_address()
    await publish(contact_changed(customer, address, locale="fr", name="Camille"))

    async def contact_known() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM contacts WHERE account_id = $1", customer))

    await wait_until(contact_known, "the contact to be recorded")
    order = order_submitted(customer)
    await publish(order)

    [mail] = await wait_for_mail(sink, address)
    order_id = order.data["order_id"]
    assert subject_of(mail) == f"Votre commande {order_id}"
    body = text_of(mail)
    assert body.startswith("Bonjour Camille,")
    assert f"Commande {order_id}" in body
    assert "- CAF-250 Café moulu 250 g × 2 : 5,00 EUR" in body
    assert "- THE-750 Thé vert 75 g × 1 : 7,50 EUR" in body
    assert "Total : 12,50 EUR" in body


async def test_messages_wait_for_a_contact_that_arrives_after_them_then_are_sent(
    notify: str, publish: Publish, sink: SmtpSink, pool: asyncpg.Pool
) -> None:
    customer, address = account(), unique_address()
    await publish(order_submitted(customer))
    await publish(points_awarded(customer, points=12, balance=12))

    async def both_waiting() -> bool:
        return await statuses(pool, customer) == ["waiting_contact", "waiting_contact"]

    await wait_until(both_waiting, "the order copy and the points email to wait for the contact")
    assert not mail_to(sink, address)

    await publish(contact_changed(customer, address, locale="ru", name="Анна"))

    mails = await wait_for_mail(sink, address, count=2)
    subjects = {subject_of(m) for m in mails}
    assert "Вам начислено 12 баллов" in subjects
    assert any(subject.startswith("Ваш заказ ") for subject in subjects)
    assert any("Итого: 12,50 EUR" in text_of(m) for m in mails)

    async def both_sent() -> bool:
        return await statuses(pool, customer) == ["sent", "sent"]

    await wait_until(both_sent, "both messages to be marked sent")
    assert not await pool.fetchval("SELECT count(*) FROM messages WHERE facts IS NOT NULL")
    assert not await pool.fetchval("SELECT count(*) FROM dead_letters")


async def test_points_award_tells_the_points_and_the_new_balance(
    notify: str, publish: Publish, sink: SmtpSink
) -> None:
    customer, address = account(), unique_address()
    await publish(contact_changed(customer, address, locale="en", name="Sam"))
    await publish(points_awarded(customer, points=120, balance=1250))

    [mail] = await wait_for_mail(sink, address)
    assert subject_of(mail) == "You earned 120 points"
    assert "You earned 120 points. Your balance is 1,250 points." in text_of(mail)


async def test_the_same_event_delivered_twice_sends_one_email(
    notify: str, publish: Publish, sink: SmtpSink, pool: asyncpg.Pool
) -> None:
    customer, address = account(), unique_address()
    first = activation_requested(customer, address, "https://shop.example/activate?token=first")
    later = activation_requested(customer, address, "https://shop.example/activate?token=later")
    # Same key, same partition: once `later` is mailed, both copies of `first` have been consumed.
    for envelope in (first, first, later):
        await publish(envelope)

    mails = await wait_for_mail(sink, address, count=2)

    assert sorted("token=first" in text_of(m) for m in mails) == [False, True]
    assert await pool.fetchval("SELECT count(*) FROM messages WHERE account_id = $1", customer) == 2
