"""Notify's SQL: contacts, messages waiting for a contact, the send queue, erasure and the listing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg
from pydantic import BaseModel, Field

from services.notify.domain import FACTS, Channel, Contact, Facts, Kind, Rendered, Status

# Serialises, per account, "is the contact known?" (consumers of orders, points) with "the contact
# is now known, render what waits for it" (consumer of contacts) and with the account's erasure:
# they run on different partitions.
_LOCK_ACCOUNT = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"


async def lock_account(conn: asyncpg.Connection, tenant_id: str, account_id: str) -> None:
    """Hold the account's contact lock until the transaction ends."""
    await conn.execute(_LOCK_ACCOUNT, f"notify.contact:{tenant_id}:{account_id}")


_UPSERT_CONTACT = """
INSERT INTO contacts (tenant_id, account_id, email, phone, display_name, locale)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (tenant_id, account_id) DO UPDATE
SET email = EXCLUDED.email, phone = EXCLUDED.phone, display_name = EXCLUDED.display_name,
    locale = EXCLUDED.locale, updated_at = now()
"""


async def save_contact(conn: asyncpg.Connection, tenant_id: str, account_id: str, contact: Contact) -> None:
    await conn.execute(
        _UPSERT_CONTACT,
        tenant_id,
        account_id,
        contact.email,
        contact.phone,
        contact.display_name,
        contact.locale,
    )


# Whether the account was erased, and its contact if any, in one round trip (under the account's lock,
# taken by a statement before: a statement's snapshot is taken before it waits for a lock).
_ADDRESSEE = """
SELECT EXISTS (SELECT 1 FROM erased_accounts WHERE tenant_id = $1 AND account_id = $2) AS erased,
       c.email, c.phone, c.display_name, c.locale
FROM (VALUES (1)) AS one
LEFT JOIN contacts c ON c.tenant_id = $1 AND c.account_id = $2
"""


async def find_addressee(
    conn: asyncpg.Connection, tenant_id: str, account_id: str
) -> tuple[bool, Contact | None]:
    """Whether the account was erased (as `is_erased`), and its contact if it has one."""
    row = await conn.fetchrow(_ADDRESSEE, tenant_id, account_id)
    assert row is not None
    if row["email"] is None:
        return row["erased"], None
    contact = Contact(
        email=row["email"], phone=row["phone"], display_name=row["display_name"], locale=row["locale"]
    )
    return row["erased"], contact


class NewMessage(BaseModel):
    """A message as a consumer creates it: rendered and queued, or waiting for its contact."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    tenant_id: str
    account_id: str
    source_event_id: uuid.UUID
    facts: Facts
    channel: Channel = "email"
    recipient: str | None = None
    rendered: Rendered | None = None

    @property
    def status(self) -> Status:
        return "queued" if self.rendered else "waiting_contact"


_INSERT_MESSAGE = """
INSERT INTO messages
    (id, tenant_id, account_id, kind, channel, recipient, subject, body, facts, status, source_event_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11)
ON CONFLICT (source_event_id, account_id) DO NOTHING
"""


async def add_message(conn: asyncpg.Connection, message: NewMessage) -> bool:
    """Store the message unless its event already made one to this account; True when stored."""
    rendered = message.rendered
    status = await conn.execute(
        _INSERT_MESSAGE,
        message.id,
        message.tenant_id,
        message.account_id,
        message.facts.kind,
        message.channel,
        message.recipient,
        rendered.subject if rendered else None,
        rendered.body if rendered else None,
        # Only a waiting message keeps its facts: a rendered one needs them no more.
        None if rendered else FACTS.dump_json(message.facts).decode(),
        message.status,
        message.source_event_id,
    )
    return bool(status == "INSERT 0 1")


class WaitingMessage(BaseModel):
    id: uuid.UUID
    facts: Facts


_WAITING = """
SELECT id, facts FROM messages
WHERE tenant_id = $1 AND account_id = $2 AND status = 'waiting_contact'
ORDER BY created_at
FOR UPDATE
"""


async def waiting_messages(conn: asyncpg.Connection, tenant_id: str, account_id: str) -> list[WaitingMessage]:
    rows = await conn.fetch(_WAITING, tenant_id, account_id)
    return [WaitingMessage(id=row["id"], facts=FACTS.validate_json(row["facts"])) for row in rows]


_QUEUE_RENDERED = """
UPDATE messages
SET recipient = $2, subject = $3, body = $4, facts = NULL, status = 'queued', next_attempt_at = now()
WHERE id = $1 AND status = 'waiting_contact'
"""


async def queue_rendered(
    conn: asyncpg.Connection, message_id: uuid.UUID, recipient: str, rendered: Rendered
) -> None:
    await conn.execute(_QUEUE_RENDERED, message_id, recipient, rendered.subject, rendered.body)


class OutgoingMessage(BaseModel):
    """A queued message as the dispatcher sends it (an SMS has no subject)."""

    id: uuid.UUID
    channel: Channel = "email"
    recipient: str
    subject: str | None
    body: str
    attempts: int


# SKIP LOCKED: several dispatchers share the queue, each message goes to one of them.
_CLAIM_DUE = """
SELECT id, channel, recipient, subject, body, attempts FROM messages
WHERE status = 'queued' AND next_attempt_at <= $1 AND channel = ANY($3::text[])
ORDER BY next_attempt_at, created_at
LIMIT $2
FOR UPDATE SKIP LOCKED
"""


async def claim_due(
    conn: asyncpg.Connection, now: datetime, limit: int, channels: Sequence[Channel]
) -> list[OutgoingMessage]:
    """Lock up to `limit` messages of these channels due for sending, until the transaction ends."""
    rows = await conn.fetch(_CLAIM_DUE, now, limit, list(channels))
    return [OutgoingMessage(**dict(row)) for row in rows]


_MARK_SENT = """
UPDATE messages AS m SET status = 'sent', sent_at = s.sent_at, attempts = m.attempts + 1, error = NULL
FROM unnest($1::uuid[], $2::timestamptz[]) AS s(id, sent_at)
WHERE m.id = s.id
"""


async def mark_sent(conn: asyncpg.Connection, sent: Sequence[tuple[uuid.UUID, datetime]]) -> None:
    """Record messages as handed to their provider, each at its own time, in one statement."""
    if sent:
        await conn.execute(_MARK_SENT, [m for m, _ in sent], [at for _, at in sent])


_RECORD_REFUSAL = """
UPDATE messages SET attempts = $2, error = $3, status = $4, next_attempt_at = $5 WHERE id = $1
"""


async def record_refusal(
    conn: asyncpg.Connection,
    message_id: uuid.UUID,
    *,
    attempts: int,
    error: str,
    status: Status,
    next_attempt_at: datetime,
) -> None:
    """The server refused this message: count the try, and retry later or give up."""
    await conn.execute(_RECORD_REFUSAL, message_id, attempts, error, status, next_attempt_at)


_RECORD_OUTAGE = "UPDATE messages SET attempts = attempts + 1, error = $2 WHERE id = ANY($1::uuid[])"


async def record_outage(conn: asyncpg.Connection, message_ids: Sequence[uuid.UUID], error: str) -> None:
    """The server could not be reached: count the try and show why, but keep the messages queued."""
    await conn.execute(_RECORD_OUTAGE, list(message_ids), error)


# Erasure (identity.account.deleted).

_IS_ERASED = "SELECT EXISTS (SELECT 1 FROM erased_accounts WHERE tenant_id = $1 AND account_id = $2)"


async def is_erased(conn: asyncpg.Connection, tenant_id: str, account_id: str) -> bool:
    """Whether the account was deleted: what still arrives about it is dropped."""
    return bool(await conn.fetchval(_IS_ERASED, tenant_id, account_id))


_MARK_ERASED = """
INSERT INTO erased_accounts (tenant_id, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING
"""
_DELETE_CONTACT = """
DELETE FROM contacts WHERE tenant_id = $1 AND account_id = $2 RETURNING email, phone, display_name
"""
# Content goes, the count stays: a message still to be sent is cancelled, a sent or failed one keeps
# its status, and every one keeps its id, kind, channel, attempts and times. Its error goes too: a
# server's refusal often repeats the address. The rows the dispatcher is sending are locked: this
# waits for their outcome, then erases them with it.
_ERASE_MESSAGES = """
WITH erased AS (
    SELECT id, recipient FROM messages
    WHERE tenant_id = $1 AND account_id = $2 AND erased_at IS NULL
    FOR UPDATE
)
UPDATE messages m
SET recipient = NULL, subject = NULL, body = NULL, facts = NULL, error = NULL, erased_at = now(),
    status = CASE WHEN m.status IN ('queued', 'waiting_contact') THEN 'cancelled' ELSE m.status END
FROM erased
WHERE m.id = erased.id
RETURNING erased.recipient
"""


async def erase_account(
    conn: asyncpg.Connection, tenant_id: str, account_id: str
) -> tuple[set[str], set[str]]:
    """Forget the account's contact and the content of its messages, and remember that it is gone.
    Returns the personal identifiers (addresses, phones) and details (name) that were held, to scrub
    them from the backbone tables too."""
    await conn.execute(_MARK_ERASED, tenant_id, account_id)
    identifiers: set[str] = set()
    details: set[str] = set()
    contact = await conn.fetchrow(_DELETE_CONTACT, tenant_id, account_id)
    if contact is not None:
        identifiers |= {v for v in (contact["email"], contact["phone"]) if v}
        details |= {contact["display_name"]} if contact["display_name"] else set()
    # A message still waiting for the contact had no recipient.
    identifiers |= {
        r["recipient"] for r in await conn.fetch(_ERASE_MESSAGES, tenant_id, account_id) if r["recipient"]
    }
    return identifiers, details


class MessageView(BaseModel):
    """A message as an administrator sees it (never its body, which may hold a secret link or code)."""

    id: uuid.UUID = Field(description="The message id, also in its Message-ID header or SMS reference")
    kind: Kind = Field(
        description="activation, activation_code, recovery, points_earned, or news of an order: order_copy,"
        " order_copy_team, order_to_approve, order_waiting, order_approved, order_refused,"
        " order_payment_refused, order_modified;"
        " of a return: return_accepted, return_refused"
    )
    channel: Channel = Field(description="How it is delivered: email or sms")
    recipient: str | None = Field(
        description="Address or phone number it goes to; null while the contact is unknown or once erased"
    )
    subject: str | None = Field(
        description="Subject line of an email; null for an SMS, while waiting, or erased"
    )
    status: Status = Field(description="waiting_contact, queued, sent, failed or cancelled")
    attempts: int = Field(description="Delivery tries so far")
    error: str | None = Field(description="Why the last try did not deliver it")
    created_at: datetime
    sent_at: datetime | None
    erased_at: datetime | None = Field(
        description="When its account was deleted and its content erased (a queued message is cancelled)"
    )


_COLUMNS = "id, kind, channel, recipient, subject, status, attempts, error, created_at, sent_at, erased_at"
_LIST = f"""
SELECT {_COLUMNS} FROM messages
WHERE tenant_id = $1 AND ($2::text IS NULL OR account_id = $2)
ORDER BY created_at DESC, id DESC
LIMIT $3
"""
_GET = f"SELECT tenant_id, account_id, {_COLUMNS} FROM messages WHERE id = $1"


async def list_messages(
    pool: asyncpg.Pool, tenant_id: str, *, account_id: str | None, limit: int
) -> list[MessageView]:
    """The tenant's messages, newest first."""
    return [MessageView(**dict(row)) for row in await pool.fetch(_LIST, tenant_id, account_id, limit)]


class FoundMessage(BaseModel):
    """A message with whose it is, for the API's owner check."""

    tenant_id: str
    account_id: str
    view: MessageView


async def get_message(pool: asyncpg.Pool, message_id: uuid.UUID) -> FoundMessage | None:
    """The message, whatever its tenant: the caller checks that it may see it."""
    row = await pool.fetchrow(_GET, message_id)
    if row is None:
        return None
    found = dict(row)
    tenant_id, account_id = found.pop("tenant_id"), found.pop("account_id")
    return FoundMessage(tenant_id=tenant_id, account_id=account_id, view=MessageView(**found))
