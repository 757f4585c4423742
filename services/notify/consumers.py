"""Notify's consumers: keep contacts, turn events into queued messages (never send from here)."""

from __future__ import annotations

from typing import TypeVar

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

from libs.common.consumer import HandlerTable, PermanentError
from libs.common.events import Envelope
from services.notify import store
from services.notify.domain import Activation, Addressee, Facts, OrderCopy, OrderLine, PointsEarned, render

log = structlog.get_logger(__name__)

# Notify's own narrow readings of what it consumes (docs/contracts.md); unknown fields are ignored.


class _Reading(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ContactChanged(_Reading):
    """identity.contact.changed on identity.contact.v1 (internal)."""

    account_id: str
    email: str
    display_name: str
    locale: str


class ActivationRequested(_Reading):
    """identity.activation.requested on notify.requests.v1 (internal: the URL holds a secret)."""

    account_id: str
    email: str
    display_name: str
    locale: str
    activation_url: str


class SubmittedLine(_Reading):
    code: str
    name: str
    quantity: int
    line_total_minor: int


class OrderSubmitted(_Reading):
    """ordering.order.submitted on ordering.order.v1."""

    order_id: str
    account_id: str
    lines: list[SubmittedLine]
    total_minor: int
    currency: str


class PointsAwarded(_Reading):
    """loyalty.points.awarded on loyalty.points.v1."""

    account_id: str
    points: int
    balance: int


R = TypeVar("R", bound=_Reading)


def _read(model: type[R], event: Envelope) -> R:
    try:
        return model.model_validate(event.data)
    except ValidationError as exc:
        # Retrying cannot fix the payload. Field names only: the input may hold an email or a secret.
        fields = ", ".join(".".join(map(str, e["loc"])) + f" ({e['type']})" for e in exc.errors())
        raise PermanentError(f"{event.type} {event.id} does not match notify's reading: {fields}") from None


async def record_contact(conn: asyncpg.Connection, event: Envelope) -> None:
    """Keep the account's contact, and queue the messages that were waiting for it."""
    changed = _read(ContactChanged, event)
    contact = Addressee(changed.email, changed.display_name, changed.locale)
    await store.lock_account(conn, event.tenantid, changed.account_id)
    await store.save_contact(conn, event.tenantid, changed.account_id, contact)
    for waiting in await store.waiting_messages(conn, event.tenantid, changed.account_id):
        await store.queue_rendered(conn, waiting.id, contact.email, render(waiting.facts, contact))


async def queue_activation(conn: asyncpg.Connection, event: Envelope) -> None:
    """The request carries its own address: the activation email never waits for a contact."""
    request = _read(ActivationRequested, event)
    to = Addressee(request.email, request.display_name, request.locale)
    facts = Activation(activation_url=request.activation_url)
    message = store.NewMessage(
        tenant_id=event.tenantid,
        account_id=request.account_id,
        source_event_id=event.id,
        facts=facts,
        recipient=to.email,
        rendered=render(facts, to),
    )
    await store.add_message(conn, message)


async def queue_order_copy(conn: asyncpg.Connection, event: Envelope) -> None:
    order = _read(OrderSubmitted, event)
    lines = [OrderLine(**line.model_dump()) for line in order.lines]
    facts = OrderCopy(
        order_id=order.order_id, lines=lines, total_minor=order.total_minor, currency=order.currency
    )
    await _queue_for_account(conn, event, order.account_id, facts)


async def queue_points_earned(conn: asyncpg.Connection, event: Envelope) -> None:
    awarded = _read(PointsAwarded, event)
    facts = PointsEarned(points=awarded.points, balance=awarded.balance)
    await _queue_for_account(conn, event, awarded.account_id, facts)


async def _queue_for_account(
    conn: asyncpg.Connection, event: Envelope, account_id: str, facts: Facts
) -> None:
    """Queue the message to the account's contact, or keep it waiting until the contact arrives
    (topics are not ordered with one another: an order can overtake its customer's contact)."""
    await store.lock_account(conn, event.tenantid, account_id)
    contact = await store.find_contact(conn, event.tenantid, account_id)
    message = store.NewMessage(
        tenant_id=event.tenantid,
        account_id=account_id,
        source_event_id=event.id,
        facts=facts,
        recipient=contact.email if contact else None,
        rendered=render(facts, contact) if contact else None,
    )
    if await store.add_message(conn, message) and contact is None:
        log.info("message waits for the account's contact", kind=facts.kind, message_id=str(message.id))


HANDLERS: HandlerTable = {
    "identity.contact.v1": {"identity.contact.changed": record_contact},
    "notify.requests.v1": {"identity.activation.requested": queue_activation},
    "ordering.order.v1": {"ordering.order.submitted": queue_order_copy},
    "loyalty.points.v1": {"loyalty.points.awarded": queue_points_earned},
}
