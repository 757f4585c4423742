"""Notify's consumers: keep contacts, turn events into queued messages (never send from here), and
erase what notify held of a deleted account."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, Self, TypeVar

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from libs.common import erasure
from libs.common.consumer import HandlerTable, PermanentError
from libs.common.events import Envelope
from libs.common.limits import MAX_BALANCE, MAX_ENTRY_POINTS, MAX_LINE_QUANTITY, MAX_ORDER_TOTAL_MINOR
from services.notify import store
from services.notify.domain import (
    Activation,
    ActivationCode,
    Addressee,
    Contact,
    Facts,
    GiftCardReceived,
    OrderCopy,
    OrderKind,
    OrderLine,
    PointsEarned,
    PointsExpiring,
    RecoveryCode,
    VoucherWon,
    render,
)

log = structlog.get_logger(__name__)

# Notify's own narrow readings of what it consumes (docs/contracts.md); unknown fields are ignored.


class _Reading(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ContactChanged(_Reading):
    """identity.contact.changed on internal.identity.contact.v1 (internal)."""

    account_id: str
    email: str
    display_name: str
    locale: str
    phone: str | None = None


class MessageRequest(_Reading):
    """What every request on internal.notify.requests.v1 (internal) carries: whom to reach, and how."""

    account_id: str
    channel: Literal["email", "sms"] = "email"
    email: str | None = None
    phone: str | None = None
    display_name: str
    locale: str

    @model_validator(mode="after")
    def _has_its_destination(self) -> Self:
        if not (self.email if self.channel == "email" else self.phone):
            raise ValueError(
                f"a request by {self.channel} needs its {'email' if self.channel == 'email' else 'phone'}"
            )
        return self

    @property
    def recipient(self) -> str:
        destination = self.email if self.channel == "email" else self.phone
        assert destination is not None  # checked above
        return destination


class ActivationRequested(MessageRequest):
    """identity.activation.requested: the URL holds a secret token."""

    activation_url: str


class CodeRequested(MessageRequest):
    """identity.activation.code_requested and identity.recovery.requested: the code is a secret."""

    code: str
    expires_at: datetime


class AccountDeleted(_Reading):
    """identity.account.deleted on identity.account.v1 (reason and time are not needed here)."""

    account_id: str


class SubmittedLine(_Reading):
    code: str
    name: str
    quantity: int = Field(ge=1, le=MAX_LINE_QUANTITY)
    line_total_minor: int = Field(ge=0, le=MAX_ORDER_TOTAL_MINOR)


class OrderTotals(_Reading):
    total_incl_vat_minor: int = Field(ge=0, le=MAX_ORDER_TOTAL_MINOR)


class OrderNews(_Reading):
    """A step of an order on ordering.order.v1 that someone is written about: its lines and totals."""

    order_id: str
    account_id: str
    reference: str | None = None
    lines: list[SubmittedLine]
    totals: OrderTotals
    currency: str


class OrderConfirmed(OrderNews):
    """ordering.order.confirmed: the buyer's copy (her approval's news when a validator approved it),
    and a copy to each of her organisation's validators."""

    validators: list[str] = Field(default_factory=list)
    approved_by: str | None = None


class OrderHeld(OrderNews):
    """ordering.order.held_for_approval: the validators are asked to decide, the buyer told it waits."""

    validators: list[str]


class OrderRefused(_Reading):
    """ordering.order.refused: the buyer is told why (by a validator); payment_refused: that what was
    to pay part of it failed."""

    order_id: str
    account_id: str
    reason: str


class OrderModified(OrderNews):
    """ordering.order.modified: the buyer sees her order as the validator changed it."""


class ReturnedLine(_Reading):
    code: str
    name: str
    quantity: int = Field(ge=1, le=MAX_LINE_QUANTITY)
    unit_price_minor: int = Field(ge=0, le=MAX_ORDER_TOTAL_MINOR)


class ReturnAccepted(_Reading):
    """ordering.return.accepted: the buyer is told what came back and what her balance was credited."""

    order_id: str
    account_id: str
    lines: list[ReturnedLine]
    credited_minor: int = Field(ge=0, le=MAX_ORDER_TOTAL_MINOR)
    currency: str


class ReturnRefused(_Reading):
    """ordering.return.refused: the buyer is told why."""

    order_id: str
    account_id: str
    reason: str


class VoucherCodeRequested(_Reading):
    """loyalty.voucher.code_requested on internal.notify.requests.v1: the code is a secret."""

    account_id: str
    title: str
    code: str
    expires_at: datetime


class GiftCardDeliveryRequested(_Reading):
    """loyalty.giftcard.delivery_requested on internal.notify.requests.v1: number and PIN are secrets."""

    account_id: str
    number: str
    pin: str | None
    amount_minor: int = Field(ge=1, le=MAX_ORDER_TOTAL_MINOR)
    currency: str
    expires_at: datetime


class PointsExpiringRead(_Reading):
    """loyalty.points.expiry_warned on loyalty.points.v1."""

    account_id: str
    points: int = Field(gt=0, le=MAX_BALANCE)
    expires_on: date


class PointsAwarded(_Reading):
    """loyalty.points.awarded on loyalty.points.v1."""

    account_id: str
    points: int = Field(gt=0, le=MAX_ENTRY_POINTS)
    balance: int = Field(ge=-MAX_BALANCE, le=MAX_BALANCE)


R = TypeVar("R", bound=_Reading)


def _read(model: type[R], event: Envelope) -> R:
    try:
        return model.model_validate(event.data)
    except ValidationError as exc:
        # Retrying cannot fix the payload. Field names only: the input may hold an email or a secret
        # (the whole-request rule says only which field is missing).
        fields = ", ".join(
            ".".join(map(str, e["loc"])) + f" ({e['type']})" if e["loc"] else e["msg"] for e in exc.errors()
        )
        raise PermanentError(f"{event.type} {event.id} does not match notify's reading: {fields}") from None


async def _erased(conn: asyncpg.Connection, event: Envelope, account_id: str) -> bool:
    """Whether the account was deleted; events about it that arrive late bring nothing back."""
    if await store.is_erased(conn, event.tenantid, account_id):
        _log_dropped(event)
        return True
    return False


def _log_dropped(event: Envelope) -> None:
    log.info("event about a deleted account dropped", event_type=event.type, event_id=str(event.id))


async def record_contact(conn: asyncpg.Connection, event: Envelope) -> None:
    """Keep the account's contact, and queue the messages that were waiting for it."""
    changed = _read(ContactChanged, event)
    await store.lock_account(conn, event.tenantid, changed.account_id)
    if await _erased(conn, event, changed.account_id):
        return
    contact = Contact(
        email=changed.email, phone=changed.phone, display_name=changed.display_name, locale=changed.locale
    )
    await store.save_contact(conn, event.tenantid, changed.account_id, contact)
    for waiting in await store.waiting_messages(conn, event.tenantid, changed.account_id):
        await store.queue_rendered(conn, waiting.id, contact.email, render(waiting.facts, contact))


async def queue_activation(conn: asyncpg.Connection, event: Envelope) -> None:
    """The activation link, by email or SMS."""
    request = _read(ActivationRequested, event)
    await _queue_request(conn, event, request, Activation(activation_url=request.activation_url))


async def queue_activation_code(conn: asyncpg.Connection, event: Envelope) -> None:
    request = _read(CodeRequested, event)
    facts = ActivationCode(code=request.code, valid_for=request.expires_at - event.time)
    await _queue_request(conn, event, request, facts)


async def queue_recovery_code(conn: asyncpg.Connection, event: Envelope) -> None:
    request = _read(CodeRequested, event)
    facts = RecoveryCode(code=request.code, valid_for=request.expires_at - event.time)
    await _queue_request(conn, event, request, facts)


async def _queue_request(
    conn: asyncpg.Connection, event: Envelope, request: MessageRequest, facts: Facts
) -> None:
    """A request carries its own destination: it never waits for a contact. How long a code stays
    valid is told from the request's time, so a late consumer does not change the wording."""
    await store.lock_account(conn, event.tenantid, request.account_id)
    if await _erased(conn, event, request.account_id):
        return
    to = Addressee(display_name=request.display_name, locale=request.locale)
    message = store.NewMessage(
        tenant_id=event.tenantid,
        account_id=request.account_id,
        source_event_id=event.id,
        facts=facts,
        channel=request.channel,
        recipient=request.recipient,
        rendered=render(facts, to, request.channel),
    )
    await store.add_message(conn, message)


def _news(order: OrderNews, kind: OrderKind, reason: str | None = None) -> OrderCopy:
    return OrderCopy(
        kind=kind,
        order_id=order.order_id,
        reference=order.reference,
        lines=[OrderLine(**line.model_dump()) for line in order.lines],
        total_minor=order.totals.total_incl_vat_minor,
        currency=order.currency,
        reason=reason,
    )


async def _queue_each(conn: asyncpg.Connection, event: Envelope, messages: dict[str, Facts]) -> None:
    """One message per account (accounts locked in one order: two events never wait on each other)."""
    for account_id in sorted(messages):
        await _queue_for_account(conn, event, account_id, messages[account_id])


async def queue_order_copy(conn: asyncpg.Connection, event: Envelope) -> None:
    order = _read(OrderConfirmed, event)
    team = _news(order, "order_copy_team")
    messages: dict[str, Facts] = {validator: team for validator in order.validators}
    messages[order.account_id] = _news(order, "order_approved" if order.approved_by else "order_copy")
    await _queue_each(conn, event, messages)


async def queue_order_to_approve(conn: asyncpg.Connection, event: Envelope) -> None:
    order = _read(OrderHeld, event)
    ask = _news(order, "order_to_approve")
    messages: dict[str, Facts] = {validator: ask for validator in order.validators}
    messages[order.account_id] = _news(order, "order_waiting")
    await _queue_each(conn, event, messages)


async def queue_order_refused(conn: asyncpg.Connection, event: Envelope) -> None:
    refused = _read(OrderRefused, event)
    facts = OrderCopy(kind="order_refused", order_id=refused.order_id, reason=refused.reason)
    await _queue_for_account(conn, event, refused.account_id, facts)


async def queue_order_payment_refused(conn: asyncpg.Connection, event: Envelope) -> None:
    refused = _read(OrderRefused, event)
    facts = OrderCopy(kind="order_payment_refused", order_id=refused.order_id)
    await _queue_for_account(conn, event, refused.account_id, facts)


async def queue_order_modified(conn: asyncpg.Connection, event: Envelope) -> None:
    order = _read(OrderModified, event)
    await _queue_for_account(conn, event, order.account_id, _news(order, "order_modified"))


async def queue_return_accepted(conn: asyncpg.Connection, event: Envelope) -> None:
    accepted = _read(ReturnAccepted, event)
    facts = OrderCopy(
        kind="return_accepted",
        order_id=accepted.order_id,
        lines=[
            OrderLine(
                code=line.code,
                name=line.name,
                quantity=line.quantity,
                line_total_minor=line.quantity * line.unit_price_minor,
            )
            for line in accepted.lines
        ],
        total_minor=accepted.credited_minor,
        currency=accepted.currency,
    )
    await _queue_for_account(conn, event, accepted.account_id, facts)


async def queue_return_refused(conn: asyncpg.Connection, event: Envelope) -> None:
    refused = _read(ReturnRefused, event)
    facts = OrderCopy(kind="return_refused", order_id=refused.order_id, reason=refused.reason)
    await _queue_for_account(conn, event, refused.account_id, facts)


async def queue_points_earned(conn: asyncpg.Connection, event: Envelope) -> None:
    awarded = _read(PointsAwarded, event)
    facts = PointsEarned(points=awarded.points, balance=awarded.balance)
    await _queue_for_account(conn, event, awarded.account_id, facts)


async def queue_voucher(conn: asyncpg.Connection, event: Envelope) -> None:
    """The code of a reward she took online, to her contact (or waiting for it)."""
    requested = _read(VoucherCodeRequested, event)
    facts = VoucherWon(title=requested.title, code=requested.code, expires_on=requested.expires_at.date())
    await _queue_for_account(conn, event, requested.account_id, facts)


async def queue_gift_card(conn: asyncpg.Connection, event: Envelope) -> None:
    """A gift card sold for her, with what spends it, to her contact (or waiting for it)."""
    given = _read(GiftCardDeliveryRequested, event)
    facts = GiftCardReceived(
        number=given.number,
        pin=given.pin,
        amount_minor=given.amount_minor,
        currency=given.currency,
        expires_on=given.expires_at.date(),
    )
    await _queue_for_account(conn, event, given.account_id, facts)


async def queue_points_expiring(conn: asyncpg.Connection, event: Envelope) -> None:
    """Warn her that some of her points expire soon."""
    soon = _read(PointsExpiringRead, event)
    facts = PointsExpiring(points=soon.points, expires_on=soon.expires_on)
    await _queue_for_account(conn, event, soon.account_id, facts)


async def _queue_for_account(
    conn: asyncpg.Connection, event: Envelope, account_id: str, facts: Facts
) -> None:
    """Queue the message to the account's contact, or keep it waiting until the contact arrives
    (topics are not ordered with one another: an order can overtake its customer's contact)."""
    await store.lock_account(conn, event.tenantid, account_id)
    erased, contact = await store.find_addressee(conn, event.tenantid, account_id)
    if erased:
        _log_dropped(event)
        return
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


async def erase_account(conn: asyncpg.Connection, event: Envelope) -> None:
    """Forget the deleted account's contact and the content of its messages (what was not sent yet
    never will be), then every event, dead letter or answer that held one of its values.
    Running it again finds nothing more to erase."""
    deleted = _read(AccountDeleted, event)
    await store.lock_account(conn, event.tenantid, deleted.account_id)
    identifiers, details = await store.erase_account(conn, event.tenantid, deleted.account_id)
    scrubbed = await erasure.scrub(conn, deleted.account_id, identifiers, details)
    log.info(
        "account erased",
        account_id=deleted.account_id,
        values=len(identifiers) + len(details),
        scrubbed=scrubbed,
    )


# The model each consumed event type is read with: producers' examples must satisfy it (tests/contracts).
READINGS: dict[str, type[BaseModel]] = {
    "identity.contact.changed": ContactChanged,
    "identity.account.deleted": AccountDeleted,
    "identity.activation.requested": ActivationRequested,
    "identity.activation.code_requested": CodeRequested,
    "identity.recovery.requested": CodeRequested,
    "ordering.order.confirmed": OrderConfirmed,
    "ordering.order.held_for_approval": OrderHeld,
    "ordering.order.refused": OrderRefused,
    "ordering.order.payment_refused": OrderRefused,
    "ordering.order.modified": OrderModified,
    "ordering.return.accepted": ReturnAccepted,
    "ordering.return.refused": ReturnRefused,
    "loyalty.points.awarded": PointsAwarded,
    "loyalty.voucher.code_requested": VoucherCodeRequested,
    "loyalty.giftcard.delivery_requested": GiftCardDeliveryRequested,
    "loyalty.points.expiry_warned": PointsExpiringRead,
}

HANDLERS: HandlerTable = {
    "internal.identity.contact.v1": {"identity.contact.changed": record_contact},
    "identity.account.v1": {"identity.account.deleted": erase_account},
    "internal.notify.requests.v1": {
        "identity.activation.requested": queue_activation,
        "identity.activation.code_requested": queue_activation_code,
        "identity.recovery.requested": queue_recovery_code,
        "loyalty.voucher.code_requested": queue_voucher,
        "loyalty.giftcard.delivery_requested": queue_gift_card,
    },
    "ordering.order.v1": {
        "ordering.order.confirmed": queue_order_copy,
        "ordering.order.held_for_approval": queue_order_to_approve,
        "ordering.order.refused": queue_order_refused,
        "ordering.order.payment_refused": queue_order_payment_refused,
        "ordering.order.modified": queue_order_modified,
    },
    "ordering.return.v1": {
        "ordering.return.accepted": queue_return_accepted,
        "ordering.return.refused": queue_return_refused,
    },
    "loyalty.points.v1": {
        "loyalty.points.awarded": queue_points_earned,
        "loyalty.points.expiry_warned": queue_points_expiring,
    },
}
