"""identity.account.deleted: notify forgets the person everywhere in its schema, cancels what was not
sent yet, keeps counting what was, and lets no late event bring the data back."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable

import asyncpg
import pytest
import pytest_asyncio

from libs.common.events import Envelope
from libs.devstack.processes import free_port
from libs.devstack.smtp import SmtpSink
from libs.devstack.stack import LocalStack
from libs.devstack.testing import ServiceUnderTest, rows_holding
from services.notify.tests.conftest import (
    TENANT,
    account,
    account_deleted,
    activation_requested,
    code_requested,
    contact_changed,
    mail_to,
    message_rows,
    notify_running,
    order_confirmed,
    points_awarded,
    publish_to,
    unique_address,
    unique_phone,
    wait_for_mail,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def notify(stack: LocalStack) -> AsyncIterator[ServiceUnderTest]:
    """Email leaves; the SMS provider is away, so an SMS stays queued until the deletion comes."""
    away = f"http://127.0.0.1:{free_port()}/messages"
    async with notify_running(stack, sms_url=away) as running:
        yield running


async def values_left(pool: asyncpg.Pool, schema: str, values: Iterable[str]) -> list[str]:
    """Where any of these values still is, in any table of the schema (bytea decoded as text)."""
    return [f"{table}: {value}" for _, table, value in await rows_holding(pool, list(values), [schema])]


async def consumed(notify: ServiceUnderTest, *events: Envelope) -> None:
    """Until the consumer has applied (or dropped) these events."""
    ids = [e.id for e in events]

    async def all_in() -> bool:
        return bool(
            await notify.db.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1)", ids) == len(ids)
        )

    await wait_until(all_in, f"{len(ids)} event(s) to be consumed")


async def erased(notify: ServiceUnderTest, account_id: str) -> bool:
    """Whether the account (of TENANT) has no contact left and every message of it is erased."""
    rows = await message_rows(notify.db, account_id)
    contact = await notify.db.fetchval(
        "SELECT count(*) FROM contacts WHERE tenant_id = $1 AND account_id = $2", TENANT, account_id
    )
    return not contact and all(row["erased_at"] is not None for row in rows)


def admin(notify: ServiceUnderTest) -> dict[str, str]:
    return notify.tokens.headers(account_id="admin-1", tenant_id=TENANT, roles=["admin"])


async def test_deleted_account_leaves_no_personal_value_in_any_table_of_notify(
    notify: ServiceUnderTest, sink: SmtpSink
) -> None:
    person, neighbour = account(), account()
    email, phone, name = unique_address(), unique_phone(), f"Philippine Effacée-{uuid.uuid4().hex[:6]}"
    token = uuid.uuid4().hex
    await publish_to(
        notify,
        contact_changed(person, email, phone=phone, name=name),
        contact_changed(neighbour, unique_address(), name="Neighbour Kept"),
        # The same account id in another tenant is another person.
        contact_changed(person, "other-tenant@example.test", name="Other Tenant", tenant="brand-b"),
        activation_requested(person, email, f"https://shop.example/activate?token={token}"),
        code_requested("identity.recovery.requested", person, channel="sms", to=phone, code="774201"),
    )
    await wait_for_mail(sink, email)

    async def sent_and_queued() -> bool:
        rows = await message_rows(notify.db, person)
        return sorted((r["channel"], r["status"]) for r in rows) == [("email", "sent"), ("sms", "queued")]

    await wait_until(sent_and_queued, "the email sent and the SMS queued (its provider is away)")
    # A request notify could not read: its dead letter holds the email and the name.
    broken = activation_requested(person, email, "https://shop.example/a?token=t", channel="sms", phone=None)
    await publish_to(notify, broken)

    async def dead_lettered() -> bool:
        return bool(await notify.db.fetchval("SELECT count(*) FROM dead_letters WHERE key = $1", person))

    await wait_until(dead_lettered, "the unreadable request to be dead-lettered")
    # What a future notify feature might keep: a published event and a remembered HTTP answer.
    await notify.db.execute(
        "INSERT INTO outbox (topic, key, payload, published_at) VALUES ('notify.sample.v1', $1, $2, now())",
        person,
        json.dumps({"data": {"phone": phone}}).encode(),
    )
    await notify.db.execute(
        "INSERT INTO idempotency_keys (scope, key, request_hash, status, response)"
        " VALUES ($1, $2, 'h', 201, $3)",
        f"{TENANT}:admin",
        uuid.uuid4().hex,
        json.dumps({"account_id": person, "name": name}),
    )
    schema = notify.isolated.name
    personal = [email, phone, name, token]
    assert {v.split(": ")[1] for v in await values_left(notify.db, schema, personal)} == set(personal)

    deletion = account_deleted(person)
    await publish_to(notify, deletion)
    await wait_until(lambda: erased(notify, person), "the account's data to be erased")
    await consumed(notify, deletion)

    assert await values_left(notify.db, schema, personal) == []
    rows = {r["channel"]: r for r in await message_rows(notify.db, person)}
    assert (rows["email"]["status"], rows["email"]["kind"], rows["email"]["attempts"]) == (
        "sent",
        "activation",
        1,
    )
    assert rows["email"]["sent_at"] is not None, "the message log still counts what was sent"
    assert (rows["sms"]["status"], rows["sms"]["kind"]) == ("cancelled", "recovery")
    for row in rows.values():
        assert [row[c] for c in ("recipient", "subject", "body", "facts", "error")] == [None] * 5
    async with notify.http.get(f"{notify.url}/messages/{rows['sms']['id']}", headers=admin(notify)) as resp:
        shown = await resp.json()
    assert (shown["status"], shown["recipient"]) == ("cancelled", None) and shown["erased_at"]
    # Nobody else's data went with it.
    assert await values_left(notify.db, schema, ["Neighbour Kept", "other-tenant@example.test"])


async def test_a_queued_message_is_never_sent_once_its_account_is_deleted(notify: ServiceUnderTest) -> None:
    person, phone = account(), unique_phone()
    request = code_requested(
        "identity.activation.code_requested", person, channel="sms", to=phone, code="1234"
    )
    await publish_to(notify, request)
    await consumed(notify, request)

    await publish_to(notify, account_deleted(person))
    await wait_until(lambda: erased(notify, person), "the queued SMS to be cancelled")

    [row] = await message_rows(notify.db, person)
    assert row["status"] == "cancelled"
    claimable = await notify.db.fetchval(
        "SELECT count(*) FROM messages WHERE status = 'queued' AND id = $1", row["id"]
    )
    assert claimable == 0


async def test_a_message_waiting_for_its_contact_is_cancelled_and_late_events_bring_nothing_back(
    notify: ServiceUnderTest, sink: SmtpSink
) -> None:
    person, email = account(), unique_address()
    order = order_confirmed(person)
    await publish_to(notify, order)
    await consumed(notify, order)
    [waiting] = await message_rows(notify.db, person)
    assert waiting["status"] == "waiting_contact" and waiting["facts"] is not None

    await publish_to(notify, account_deleted(person))
    await wait_until(lambda: erased(notify, person), "the waiting message to be cancelled")
    [cancelled] = await message_rows(notify.db, person)
    assert (cancelled["status"], cancelled["facts"]) == ("cancelled", None)

    # Published before the deletion on other topics, they may well arrive after it.
    late = [
        contact_changed(person, email, phone=unique_phone()),
        points_awarded(person, points=5, balance=5),
        code_requested("identity.recovery.requested", person, channel="email", to=email, code="999999"),
    ]
    await publish_to(notify, *late)
    await consumed(notify, *late)

    assert not await notify.db.fetchval("SELECT count(*) FROM contacts WHERE account_id = $1", person)
    assert len(await message_rows(notify.db, person)) == 1
    assert mail_to(sink, email) == []


async def test_a_redelivered_or_repeated_deletion_is_harmless(
    notify: ServiceUnderTest, sink: SmtpSink
) -> None:
    person, email, stranger = account(), unique_address(), account()
    await publish_to(notify, contact_changed(person, email), points_awarded(person, points=1, balance=1))
    await wait_for_mail(sink, email)
    first = account_deleted(person)
    again = account_deleted(person, reason="inactive")
    never_seen = account_deleted(stranger)

    await publish_to(notify, first, first, again, never_seen)
    await consumed(notify, first, again, never_seen)

    assert await erased(notify, person)
    [row] = await message_rows(notify.db, person)
    assert row["kind"] == "points_earned" and row["recipient"] is None
    dead = await notify.db.fetchval(
        "SELECT count(*) FROM dead_letters WHERE key = ANY($1)", [person, stranger]
    )
    assert dead == 0
    remembered = await notify.db.fetchval(
        "SELECT count(*) FROM erased_accounts WHERE account_id = ANY($1)", [person, stranger]
    )
    assert remembered == 2
