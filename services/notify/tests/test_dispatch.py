"""The dispatcher: a provider outage keeps messages queued (email and SMS alike, one channel's outage
holding back nothing of the other), a refusal is retried then fails, never a crash."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from libs.devstack.processes import free_port
from libs.devstack.sms import SmsSink
from libs.devstack.smtp import SmtpSink
from libs.devstack.testing import Isolated
from services.notify import store
from services.notify.dispatch import dispatch_messages, dispatch_once
from services.notify.domain import Activation, Addressee, Channel, render
from services.notify.tests.conftest import (
    TENANT,
    mail_to,
    notify_settings,
    sms_to,
    unique_address,
    unique_phone,
    wait_until,
)


async def queue_message(pool: asyncpg.Pool, address: str, channel: Channel = "email") -> uuid.UUID:
    facts = Activation(activation_url="https://shop.example/activate?token=t")
    message = store.NewMessage(
        tenant_id=TENANT,
        account_id="a-1",
        source_event_id=uuid.uuid4(),
        facts=facts,
        channel=channel,
        recipient=address,
        rendered=render(facts, Addressee("Camille", "fr"), channel),
    )
    async with pool.acquire() as conn:
        assert await store.add_message(conn, message)
    return message.id


async def row(pool: asyncpg.Pool, message_id: uuid.UUID) -> dict[str, Any]:
    found = await pool.fetchrow("SELECT * FROM messages WHERE id = $1", message_id)
    assert found is not None
    return dict(found)


async def test_unreachable_smtp_server_keeps_mail_queued_with_the_error_until_it_comes_back(
    isolated: Isolated, notify_db: asyncpg.Pool, sink: SmtpSink
) -> None:
    address = unique_address()
    message_id = await queue_message(notify_db, address)
    down = notify_settings(isolated, smtp_url=f"smtp://127.0.0.1:{free_port()}")

    outage = await dispatch_once(notify_db, down)

    assert outage.outage and outage.sent == 0
    stored = await row(notify_db, message_id)
    assert (stored["status"], stored["attempts"]) == ("queued", 1)
    assert stored["error"].startswith("SMTP server unavailable")

    # The worker loop, as the runtime runs it, survives the outage.
    stopping = asyncio.Event()
    worker = asyncio.create_task(dispatch_messages(notify_db, stopping, settings=down))

    async def retried() -> bool:
        return int((await row(notify_db, message_id))["attempts"]) >= 2

    await wait_until(retried, "the dispatcher to try again", timeout=10)
    assert not worker.done()
    stopping.set()
    await asyncio.wait_for(worker, 5)
    assert (await row(notify_db, message_id))["status"] == "queued"

    back = await dispatch_once(notify_db, notify_settings(isolated))

    assert (back.sent, back.outage) == (1, None)
    stored = await row(notify_db, message_id)
    assert (stored["status"], stored["error"]) == ("sent", None)
    assert stored["sent_at"] is not None
    [mail] = mail_to(sink, address)
    assert mail["Message-ID"] == f"<{message_id}@comptoir.local>"


class Clock:
    """A clock the test moves, so that back-off delays pass without sleeping."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


class RefuseEveryRecipient:
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return "550 5.1.1 mailbox unavailable"


@pytest.fixture
def refusing_server() -> Iterator[str]:
    controller = Controller(RefuseEveryRecipient(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield f"smtp://127.0.0.1:{controller.port}"
    controller.stop()


async def test_refused_message_is_retried_later_and_fails_after_five_attempts(
    isolated: Isolated, notify_db: asyncpg.Pool, refusing_server: str
) -> None:
    message_id = await queue_message(notify_db, unique_address())
    settings = notify_settings(isolated, smtp_url=refusing_server)
    clock = Clock()

    first = await dispatch_once(notify_db, settings, clock=clock)

    assert first.refused == 1
    stored = await row(notify_db, message_id)
    assert (stored["status"], stored["attempts"]) == ("queued", 1)
    assert "550" in stored["error"]
    assert stored["next_attempt_at"] > clock.now
    assert (await dispatch_once(notify_db, settings, clock=clock)).claimed == 0, "not before its time"

    for _ in range(4):
        clock.now += timedelta(hours=2)
        assert (await dispatch_once(notify_db, settings, clock=clock)).refused == 1

    stored = await row(notify_db, message_id)
    assert (stored["status"], stored["attempts"]) == ("failed", 5)
    clock.now += timedelta(days=1)
    assert (await dispatch_once(notify_db, settings, clock=clock)).claimed == 0


@dataclass
class FakeProvider:
    """An SMS provider that answers what the test says (a real HTTP server, not a mock)."""

    url: str = ""
    status: int = 202
    delay_s: float = 0.0
    received: list[Any] = field(default_factory=list)


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    fake = FakeProvider()

    async def messages(request: web.Request) -> web.Response:
        fake.received.append(await request.json())
        await asyncio.sleep(fake.delay_s)
        return web.json_response({"error": f"answer {fake.status}"}, status=fake.status)

    app = web.Application()
    app.router.add_post("/messages", messages)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fake.url = f"http://127.0.0.1:{port}/messages"
    yield fake
    await runner.cleanup()


async def test_sms_goes_to_the_provider_as_to_text_and_reference(
    isolated: Isolated, notify_db: asyncpg.Pool, sms_sink: SmsSink
) -> None:
    phone = unique_phone()
    message_id = await queue_message(notify_db, phone, "sms")

    result = await dispatch_once(notify_db, notify_settings(isolated))

    assert (result.sent, result.outage) == (1, None)
    [sms] = sms_to(sms_sink, phone)
    assert sms.reference == str(message_id)
    assert sms.text.startswith("Bonjour Camille, activez votre compte Comptoir : https://")
    stored = await row(notify_db, message_id)
    assert (stored["status"], stored["attempts"], stored["error"]) == ("sent", 1, None)


async def test_refused_sms_is_retried_later_and_fails_after_five_attempts(
    isolated: Isolated, notify_db: asyncpg.Pool, provider: FakeProvider
) -> None:
    provider.status = 400
    phone = unique_phone()
    message_id = await queue_message(notify_db, phone, "sms")
    settings = notify_settings(isolated, sms_url=provider.url)
    clock = Clock()

    first = await dispatch_once(notify_db, settings, clock=clock)

    assert (first.refused, first.outage) == (1, None)
    stored = await row(notify_db, message_id)
    assert (stored["status"], stored["attempts"]) == ("queued", 1)
    assert stored["error"].startswith("SMS provider refused: 400")
    assert stored["next_attempt_at"] > clock.now
    assert (await dispatch_once(notify_db, settings, clock=clock)).claimed == 0, "not before its time"

    for _ in range(4):
        clock.now += timedelta(hours=2)
        assert (await dispatch_once(notify_db, settings, clock=clock)).refused == 1

    stored = await row(notify_db, message_id)
    assert (stored["status"], stored["attempts"]) == ("failed", 5)
    assert provider.received == [{"to": phone, "text": stored["body"], "reference": str(message_id)}] * 5


@pytest.mark.parametrize("answer", [503, 500, 429, "timeout", "nobody listens"])
async def test_sms_provider_outage_keeps_sms_queued_until_it_comes_back(
    isolated: Isolated,
    notify_db: asyncpg.Pool,
    provider: FakeProvider,
    sms_sink: SmsSink,
    answer: int | str,
) -> None:
    phone = unique_phone()
    message_id = await queue_message(notify_db, phone, "sms")
    url = f"http://127.0.0.1:{free_port()}/messages" if answer == "nobody listens" else provider.url
    if answer == "timeout":
        provider.delay_s = 1.0
    elif isinstance(answer, int):
        provider.status = answer
    down = notify_settings(isolated, sms_url=url, sms_timeout_s=0.3)

    for attempt in (1, 2, 3):
        result = await dispatch_once(notify_db, down)
        assert result.outages.keys() == {"sms"} and (result.sent, result.refused) == (0, 0)
        stored = await row(notify_db, message_id)
        assert (stored["status"], stored["attempts"]) == ("queued", attempt), "an outage never fails it"
        assert stored["error"].startswith("SMS provider unavailable")
        assert stored["next_attempt_at"] <= datetime.now(UTC), "retried as soon as the provider is back"

    back = await dispatch_once(notify_db, notify_settings(isolated))

    assert (back.sent, back.outage) == (1, None)
    assert [sms.reference for sms in sms_to(sms_sink, phone)] == [str(message_id)]
    assert (await row(notify_db, message_id))["status"] == "sent"


async def test_an_sms_outage_holds_back_no_email_and_is_retried_with_back_off(
    isolated: Isolated, notify_db: asyncpg.Pool, sink: SmtpSink, provider: FakeProvider
) -> None:
    provider.status = 503
    address = unique_address()
    sms_id = await queue_message(notify_db, unique_phone(), "sms")
    stopping = asyncio.Event()
    settings = notify_settings(isolated, sms_url=provider.url)
    worker = asyncio.create_task(dispatch_messages(notify_db, stopping, settings=settings))
    try:

        async def sms_retried() -> bool:
            return int((await row(notify_db, sms_id))["attempts"]) >= 2

        await wait_until(sms_retried, "the dispatcher to try the SMS again", timeout=10)
        email_id = await queue_message(notify_db, address)

        async def email_sent() -> bool:
            return bool((await row(notify_db, email_id))["status"] == "sent")

        await wait_until(email_sent, "the email to leave while the SMS provider is away", timeout=5)
        assert len(mail_to(sink, address)) == 1
        assert (await row(notify_db, sms_id))["status"] == "queued"
        tries = len(provider.received)
        await asyncio.sleep(0.5)
        assert len(provider.received) <= tries + 1, "the SMS channel backs off instead of hammering"
        assert not worker.done()
    finally:
        stopping.set()
        await asyncio.wait_for(worker, 5)


async def test_a_queued_message_rings_the_dispatcher_which_sends_it_at_once(
    isolated: Isolated, notify_db: asyncpg.Pool, sink: SmtpSink
) -> None:
    """With a 30 s poll, only the queue's doorbell can send the message within seconds."""
    stopping = asyncio.Event()
    settings = notify_settings(isolated, dispatch_poll_s=30)
    worker = asyncio.create_task(dispatch_messages(notify_db, stopping, settings=settings))
    try:
        await asyncio.sleep(0.5)  # the dispatcher has looked once and waits on its doorbell
        address = unique_address()
        message_id = await queue_message(notify_db, address)

        async def sent() -> bool:
            return bool((await row(notify_db, message_id))["status"] == "sent")

        await wait_until(sent, "the doorbell to wake the dispatcher", timeout=3)
        assert len(mail_to(sink, address)) == 1
    finally:
        stopping.set()
        await asyncio.wait_for(worker, 2)  # stopping wakes it too, long before the next poll


class RecordPeers:
    """Accepts every message and notes which client connection brought it."""

    def __init__(self) -> None:
        self.peers: dict[str, Any] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for recipient in envelope.rcpt_tos:
            self.peers[recipient] = session.peer
        return "250 OK"


async def test_the_worker_keeps_its_smtp_connection_between_batches_until_the_server_closes_it(
    isolated: Isolated, notify_db: asyncpg.Pool
) -> None:
    handler = RecordPeers()
    # The server closes a connection idle for 1 s, as real servers do after minutes.
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), timeout=1)
    controller.start()
    stopping = asyncio.Event()
    settings = notify_settings(
        isolated, smtp_url=f"smtp://127.0.0.1:{controller.port}", dispatch_connections=1
    )
    worker = asyncio.create_task(dispatch_messages(notify_db, stopping, settings=settings))
    try:
        first, second, third = unique_address(), unique_address(), unique_address()
        sent_ids = []
        for address, pause in ((first, 0.3), (second, 1.8), (third, 0)):
            sent_ids.append(await queue_message(notify_db, address))

            async def delivered(address: str = address) -> bool:
                return address in handler.peers

            await wait_until(delivered, f"the message to {address}", timeout=5)
            await asyncio.sleep(pause)

        assert handler.peers[first] == handler.peers[second], "one connection for batches close together"
        assert handler.peers[third] != handler.peers[second], "a new connection once the server closed it"
        for message_id in sent_ids:
            stored = await row(notify_db, message_id)
            assert (stored["status"], stored["attempts"], stored["error"]) == ("sent", 1, None)
    finally:
        stopping.set()
        await asyncio.wait_for(worker, 5)
        controller.stop()


async def test_a_batch_goes_out_over_several_connections_at_once(
    isolated: Isolated, notify_db: asyncpg.Pool
) -> None:
    handler = RecordPeers()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        addresses = [unique_address() for _ in range(6)]
        ids = [await queue_message(notify_db, address) for address in addresses]
        settings = notify_settings(
            isolated, smtp_url=f"smtp://127.0.0.1:{controller.port}", dispatch_connections=3
        )

        result = await dispatch_once(notify_db, settings)

        assert (result.claimed, result.sent) == (6, 6)
        assert len({handler.peers[address] for address in addresses}) == 3
        for message_id in ids:
            assert (await row(notify_db, message_id))["status"] == "sent"
    finally:
        controller.stop()
