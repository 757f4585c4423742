"""Notify's SQL: contacts, messages waiting for a contact, the send queue and the admin listing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg
from pydantic import BaseModel, Field

from services.notify.domain import FACTS, Addressee, Facts, Kind, Rendered, Status

# Serialises, per account, "is the contact known?" (consumers of orders, points) with "the contact
# is now known, render what waits for it" (consumer of contacts): they run on different partitions.
_LOCK_ACCOUNT = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"


async def lock_account(conn: asyncpg.Connection, tenant_id: str, account_id: str) -> None:
    """Hold the account's contact lock until the transaction ends."""
    await conn.execute(_LOCK_ACCOUNT, f"notify.contact:{tenant_id}:{account_id}")


_UPSERT_CONTACT = """
INSERT INTO contacts (tenant_id, account_id, email, display_name, locale)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant_id, account_id) DO UPDATE
SET email = EXCLUDED.email, display_name = EXCLUDED.display_name, locale = EXCLUDED.locale,
    updated_at = now()
"""


async def save_contact(conn: asyncpg.Connection, tenant_id: str, account_id: str, contact: Addressee) -> None:
    await conn.execute(
        _UPSERT_CONTACT, tenant_id, account_id, contact.email, contact.display_name, contact.locale
    )


_CONTACT = "SELECT email, display_name, locale FROM contacts WHERE tenant_id = $1 AND account_id = $2"


async def find_contact(conn: asyncpg.Connection, tenant_id: str, account_id: str) -> Addressee | None:
    row = await conn.fetchrow(_CONTACT, tenant_id, account_id)
    return Addressee(row["email"], row["display_name"], row["locale"]) if row else None


class NewMessage(BaseModel):
    """A message as a consumer creates it: rendered and queued, or waiting for its contact."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    tenant_id: str
    account_id: str
    source_event_id: uuid.UUID
    facts: Facts
    recipient: str | None = None
    rendered: Rendered | None = None

    @property
    def status(self) -> Status:
        return "queued" if self.rendered else "waiting_contact"


_INSERT_MESSAGE = """
INSERT INTO messages
    (id, tenant_id, account_id, kind, recipient, subject, body, facts, status, source_event_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)
ON CONFLICT (source_event_id) DO NOTHING
"""


async def add_message(conn: asyncpg.Connection, message: NewMessage) -> bool:
    """Store the message unless its event already made one; True when stored."""
    rendered = message.rendered
    status = await conn.execute(
        _INSERT_MESSAGE,
        message.id,
        message.tenant_id,
        message.account_id,
        message.facts.kind,
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
    """A queued message as the dispatcher sends it."""

    id: uuid.UUID
    recipient: str
    subject: str
    body: str
    attempts: int


# SKIP LOCKED: several dispatchers share the queue, each message goes to one of them.
_CLAIM_DUE = """
SELECT id, recipient, subject, body, attempts FROM messages
WHERE status = 'queued' AND next_attempt_at <= $1
ORDER BY next_attempt_at, created_at
LIMIT $2
FOR UPDATE SKIP LOCKED
"""


async def claim_due(conn: asyncpg.Connection, now: datetime, limit: int) -> list[OutgoingMessage]:
    """Lock up to `limit` messages due for sending, until the transaction ends."""
    return [OutgoingMessage(**dict(row)) for row in await conn.fetch(_CLAIM_DUE, now, limit)]


_MARK_SENT = """
UPDATE messages SET status = 'sent', sent_at = $2, attempts = attempts + 1, error = NULL WHERE id = $1
"""


async def mark_sent(conn: asyncpg.Connection, message_id: uuid.UUID, now: datetime) -> None:
    await conn.execute(_MARK_SENT, message_id, now)


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


class MessageView(BaseModel):
    """A message as an administrator sees it (never its body, which may hold a secret link)."""

    id: uuid.UUID = Field(description="The message id, also in its Message-ID header")
    kind: Kind = Field(description="activation, order_copy or points_earned")
    channel: str = Field(description="How it is delivered: email")
    recipient: str | None = Field(description="Address it goes to; null while the contact is unknown")
    subject: str | None = Field(description="Subject line; null while waiting for the contact")
    status: Status = Field(description="waiting_contact, queued, sent or failed")
    attempts: int = Field(description="Delivery tries so far")
    error: str | None = Field(description="Why the last try did not deliver it")
    created_at: datetime
    sent_at: datetime | None


_COLUMNS = "id, kind, channel, recipient, subject, status, attempts, error, created_at, sent_at"
_LIST = f"""
SELECT {_COLUMNS} FROM messages
WHERE tenant_id = $1 AND ($2::text IS NULL OR account_id = $2)
ORDER BY created_at DESC, id DESC
LIMIT $3
"""
_GET = f"SELECT {_COLUMNS} FROM messages WHERE tenant_id = $1 AND id = $2"


async def list_messages(
    pool: asyncpg.Pool, tenant_id: str, *, account_id: str | None, limit: int
) -> list[MessageView]:
    """The tenant's messages, newest first."""
    return [MessageView(**dict(row)) for row in await pool.fetch(_LIST, tenant_id, account_id, limit)]


async def get_message(pool: asyncpg.Pool, tenant_id: str, message_id: uuid.UUID) -> MessageView | None:
    row = await pool.fetchrow(_GET, tenant_id, message_id)
    return MessageView(**dict(row)) if row else None
