"""Fixtures of notify's tests: the service in-process, contract events, the SMTP and SMS sinks."""

from __future__ import annotations

import asyncio
import contextlib
import email.header
import email.message
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from libs.common.db import migrate, service_migrations
from libs.common.events import Envelope
from libs.devstack.sms import Sms, SmsSink
from libs.devstack.smtp import SmtpSink
from libs.devstack.stack import LocalStack
from libs.devstack.testing import Isolated, ServiceUnderTest, service_under_test
from services.notify.app import Settings, build_spec
from tests.contracts.examples import example_event, examples, topic_of

TENANT = "brand-a"


def unique_address() -> str:
    """The sink is shared by the whole session: each test reads only its own recipients."""
    return f"u-{uuid.uuid4().hex[:12]}@example.test"


def unique_phone() -> str:
    """A French mobile number (E.164) of this test only: the SMS sink is shared too."""
    return f"+336{uuid.uuid4().int % 10**8:08d}"


def account() -> str:
    return str(uuid.uuid4())


def notify_settings(isolated: Isolated, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"role": "all", "dispatch_poll_s": 0.1, **overrides}
    return Settings(**isolated.settings("notify", **values))


@pytest.fixture
def service_folder() -> Path:
    """Notify's migrations make the schema of `db` (libs/devstack/testing.py)."""
    return build_spec(Settings()).folder


@pytest.fixture
def sink(stack: LocalStack) -> SmtpSink:
    if stack.smtp is None:
        pytest.skip("SMTP_URL points at an external server: there is no sink to read")
    return stack.smtp


@pytest.fixture
def sms_sink(stack: LocalStack) -> SmsSink:
    if stack.sms is None:
        pytest.skip("SMS_URL points at an external provider: there is no sink to read")
    return stack.sms


@contextlib.asynccontextmanager
async def notify_running(stack: LocalStack, **overrides: Any) -> AsyncIterator[ServiceUnderTest]:
    """Notify with every role (API, consumers, dispatcher), for a whole test module."""
    async with service_under_test(
        stack, build_spec, "notify", Settings, dispatch_poll_s=0.1, **overrides
    ) as running:
        yield running


@pytest.fixture
async def notify_db(isolated: Isolated, pool: asyncpg.Pool) -> asyncpg.Pool:
    """The test's schema with notify's tables, without running the service."""
    async with pool.acquire() as conn:
        await migrate(conn, isolated.name, service_migrations(build_spec(Settings()).folder))
    return pool


# Events as their publishers send them: each starts from the publisher's example (docs/events).


def event(event_type: str, *, subject: str, tenant: str = TENANT, **changes: Any) -> Envelope:
    return example_event(event_type, tenant, subject=subject, **changes)


def contact_changed(
    account_id: str,
    email: str,
    *,
    locale: str = "fr",
    name: str = "Camille",
    phone: str | None = None,
    tenant: str = TENANT,
) -> Envelope:
    return event(
        "identity.contact.changed",
        subject=account_id,
        tenant=tenant,
        account_id=account_id,
        email=email,
        display_name=name,
        locale=locale,
        phone=phone,
    )


def activation_requested(
    account_id: str,
    email: str | None,
    url: str,
    *,
    locale: str = "fr",
    channel: str | None = None,
    phone: str | None = None,
) -> Envelope:
    """As identity sent it before SMS (no channel, no phone) unless `channel` is given."""
    sent = event(
        "identity.activation.requested",
        subject=account_id,
        account_id=account_id,
        channel=channel or "email",
        email=email,
        phone=phone,
        display_name="Camille",
        locale=locale,
        activation_url=url,
    )
    if channel is not None:
        return sent
    before_sms = {k: v for k, v in sent.data.items() if k not in ("channel", "phone")}
    return sent.model_copy(update={"data": before_sms})


def code_requested(
    event_type: str,
    account_id: str,
    *,
    channel: str,
    to: str,
    code: str,
    locale: str = "fr",
    name: str = "Camille",
    valid_for: timedelta = timedelta(minutes=10),
) -> Envelope:
    """identity.activation.code_requested or identity.recovery.requested, by email or SMS."""
    now = datetime.now(UTC)
    return example_event(
        event_type,
        TENANT,
        subject=account_id,
        time=now,
        account_id=account_id,
        channel=channel,
        email=to if channel == "email" else None,
        phone=to if channel == "sms" else None,
        display_name=name,
        locale=locale,
        code=code,
        expires_at=now + valid_for,
    )


def account_deleted(account_id: str, *, tenant: str = TENANT, reason: str = "closed") -> Envelope:
    return event(
        "identity.account.deleted",
        subject=account_id,
        tenant=tenant,
        account_id=account_id,
        reason=reason,
        deleted_at=datetime.now(UTC),
    )


def order_confirmed(
    account_id: str,
    *,
    order_id: str | None = None,
    reference: str | None = None,
    validators: list[str] | None = None,
) -> Envelope:
    """Two lines: 2 CAF-250 at 2,50 and 1 THE-750 at 7,50; 12,50 EUR in all."""
    order_id = order_id or str(uuid.uuid4())
    [line, *_] = examples("ordering.order.confirmed")[0]["lines"]
    lines = [
        ("CAF-250", "Café moulu 250 g", 2, 250),
        ("THE-750", "Thé vert 75 g", 1, 750),
    ]
    return event(
        "ordering.order.confirmed",
        subject=order_id,
        order_id=order_id,
        account_id=account_id,
        lines=[
            line
            | {
                "product_id": str(uuid.uuid4()),
                "code": code,
                "name": name,
                "quantity": quantity,
                "unit_price_minor": price,
                "line_total_minor": quantity * price,
                "price_list_id": None,
            }
            for code, name, quantity, price in lines
        ],
        totals={
            "goods_minor": 1250,
            "delivery_fee_minor": 0,
            "vat": [],
            "total_excl_vat_minor": 1250,
            "total_vat_minor": 0,
            "total_incl_vat_minor": 1250,
            "eligible_minor": 1250,
        },
        currency="EUR",
        confirmed_at=datetime.now(UTC),
        reference=reference,
        validators=validators or [],
    )


def points_awarded(account_id: str, points: int, balance: int) -> Envelope:
    return event(
        "loyalty.points.awarded",
        subject=account_id,
        account_id=account_id,
        entry_id=uuid.uuid4(),
        points=points,
        balance=balance,
        cause_id=uuid.uuid4(),
        awarded_at=datetime.now(UTC),
    )


async def publish_to(running: ServiceUnderTest, *envelopes: Envelope) -> None:
    """Publish envelopes on their contract topics (keyed by subject), to a service of `notify_running`."""
    for envelope in envelopes:
        await running.publish(topic_of(envelope.type), envelope)


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


def sms_to(sink: SmsSink, phone: str) -> list[Sms]:
    return [m for m in sink.messages() if m.to == phone]


async def wait_for_sms(sink: SmsSink, phone: str, count: int = 1, timeout: float = 20) -> list[Sms]:
    async def arrived() -> bool:
        return len(sms_to(sink, phone)) >= count

    await wait_until(arrived, f"{count} SMS to {phone}", timeout)
    return sms_to(sink, phone)


async def message_rows(pool: asyncpg.Pool, account_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM messages WHERE account_id = $1 ORDER BY created_at", account_id)
    return [dict(row) for row in rows]
