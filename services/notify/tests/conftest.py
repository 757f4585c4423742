"""Fixtures of notify's tests: the service in-process, contract events, a producer, the SMTP sink."""

from __future__ import annotations

import asyncio
import email.header
import email.message
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from libs.common.db import migrate, service_migrations
from libs.common.events import Envelope
from libs.common.stack import LocalStack, SmtpSink
from libs.common.testing import Isolated, TokenMinter, service_running
from services.notify.app import SPEC, Settings

TENANT = "brand-a"


def unique_address() -> str:
    """The sink is shared by the whole session: each test reads only its own recipients."""
    return f"u-{uuid.uuid4().hex[:12]}@example.test"


def notify_settings(isolated: Isolated, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"role": "all", "dispatch_poll_s": 0.1, **overrides}
    return Settings(**isolated.settings("notify", **values))


@pytest.fixture
def sink(stack: LocalStack) -> SmtpSink:
    if stack.smtp is None:
        pytest.skip("SMTP_URL points at an external server: there is no sink to read")
    # Work-around for libs.common.stack.SmtpSink.start: it creates the Maildir folder before
    # aiosmtpd's Mailbox opens it, so the tmp/new/cur subfolders are never made and every DATA fails.
    for sub in ("tmp", "new", "cur"):
        (stack.smtp.maildir / sub).mkdir(parents=True, exist_ok=True)
    return stack.smtp


@pytest.fixture
async def notify(isolated: Isolated, tokens: TokenMinter) -> AsyncIterator[str]:
    """Notify with every role (API, consumers, mail dispatcher); yields its base URL."""
    async with service_running(SPEC, notify_settings(isolated), tokens) as url:
        yield url


@pytest.fixture
async def notify_db(isolated: Isolated, pool: asyncpg.Pool) -> asyncpg.Pool:
    """The test's schema with notify's tables, without running the service."""
    async with pool.acquire() as conn:
        await migrate(conn, isolated.name, service_migrations(SPEC.folder))
    return pool


# Events exactly as docs/contracts.md describes them, including the fields notify does not read.


def event(event_type: str, data: dict[str, Any], *, subject: str, tenant: str = TENANT) -> Envelope:
    return Envelope(
        id=uuid.uuid4(),
        source=event_type.split(".")[0],
        type=event_type,
        time=datetime.now(UTC),
        subject=subject,
        dataschema=f"urn:comptoir:event:{event_type}:v1",
        tenantid=tenant,
        data=data,
    )


def contact_changed(account_id: str, email: str, *, locale: str = "fr", name: str = "Camille") -> Envelope:
    data = {"account_id": account_id, "email": email, "display_name": name, "locale": locale}
    return event("identity.contact.changed", data, subject=account_id)


def activation_requested(account_id: str, email: str, url: str, *, locale: str = "fr") -> Envelope:
    data = {
        "account_id": account_id,
        "email": email,
        "display_name": "Camille",
        "locale": locale,
        "activation_url": url,
    }
    return event("identity.activation.requested", data, subject=account_id)


def order_submitted(account_id: str, *, order_id: str | None = None) -> Envelope:
    """Two lines: 2 CAF-250 at 2,50 and 1 THE-750 at 7,50; 12,50 EUR in all."""
    order_id = order_id or str(uuid.uuid4())
    lines = [
        ("CAF-250", "Café moulu 250 g", 2, 250),
        ("THE-750", "Thé vert 75 g", 1, 750),
    ]
    data = {
        "order_id": order_id,
        "account_id": account_id,
        "organisation_id": None,
        "lines": [
            {
                "product_id": str(uuid.uuid4()),
                "code": code,
                "name": name,
                "quantity": quantity,
                "unit_price_minor": price,
                "line_total_minor": quantity * price,
            }
            for code, name, quantity, price in lines
        ],
        "total_minor": 1250,
        "currency": "EUR",
        "submitted_at": datetime.now(UTC).isoformat(),
    }
    return event("ordering.order.submitted", data, subject=order_id)


def points_awarded(account_id: str, points: int, balance: int) -> Envelope:
    data = {
        "account_id": account_id,
        "entry_id": str(uuid.uuid4()),
        "points": points,
        "balance": balance,
        "cause_type": "order",
        "cause_id": str(uuid.uuid4()),
        "awarded_at": datetime.now(UTC).isoformat(),
    }
    return event("loyalty.points.awarded", data, subject=account_id)


TOPICS = {
    "identity.contact.changed": "identity.contact.v1",
    "identity.activation.requested": "notify.requests.v1",
    "ordering.order.submitted": "ordering.order.v1",
    "loyalty.points.awarded": "loyalty.points.v1",
}

Publish = Callable[[Envelope], Awaitable[None]]


@pytest.fixture
async def publish(isolated: Isolated) -> AsyncIterator[Publish]:
    """Publish an envelope on its contract topic (under the test's prefix), keyed by its subject."""
    producer = AIOKafkaProducer(bootstrap_servers=isolated.bootstrap_servers)
    await producer.start()

    async def send(envelope: Envelope) -> None:
        topic = isolated.topic_prefix + TOPICS[envelope.type]
        await producer.send_and_wait(topic, envelope.to_bytes(), key=envelope.subject.encode())

    yield send
    await producer.stop()


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def mail_to(sink: SmtpSink, address: str) -> list[email.message.Message]:
    return [m for m in sink.messages() if m["To"] == address]


async def wait_for_mail(
    sink: SmtpSink, address: str, count: int = 1, timeout: float = 20
) -> list[email.message.Message]:
    async def arrived() -> bool:
        return len(mail_to(sink, address)) >= count

    await wait_until(arrived, f"{count} email(s) to {address}", timeout)
    return mail_to(sink, address)


def text_of(mail: email.message.Message) -> str:
    """The decoded plain-text body."""
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(mail.get_content_charset() or "utf-8")


def subject_of(mail: email.message.Message) -> str:
    """The decoded Subject header (encoded words when it is not ASCII)."""
    return str(email.header.make_header(email.header.decode_header(mail["Subject"])))
