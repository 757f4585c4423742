"""The mail dispatcher: an SMTP outage keeps mail queued, a refusal is retried then fails, never a crash."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller

from libs.common.stack import SmtpSink, free_port
from libs.common.testing import Isolated
from services.notify import store
from services.notify.dispatch import dispatch_mail, dispatch_once
from services.notify.domain import Activation, Addressee, render
from services.notify.tests.conftest import TENANT, mail_to, notify_settings, unique_address, wait_until


async def queue_message(pool: asyncpg.Pool, address: str) -> uuid.UUID:
    facts = Activation(activation_url="https://shop.example/activate?token=t")
    message = store.NewMessage(
        tenant_id=TENANT,
        account_id="a-1",
        source_event_id=uuid.uuid4(),
        facts=facts,
        recipient=address,
        rendered=render(facts, Addressee(address, "Camille", "fr")),
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
    down = isolated.service_settings("notify", smtp_url=f"smtp://127.0.0.1:{free_port()}")

    outage = await dispatch_once(notify_db, notify_settings(isolated, smtp_url=down.smtp_url))

    assert outage.outage and outage.sent == 0
    stored = await row(notify_db, message_id)
    assert (stored["status"], stored["attempts"]) == ("queued", 1)
    assert stored["error"].startswith("SMTP server unavailable")

    # The worker loop, as the runtime runs it (with the shared settings class), survives the outage.
    stopping = asyncio.Event()
    worker = asyncio.create_task(dispatch_mail(notify_db, down, stopping))

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
