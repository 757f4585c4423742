"""Identity's SQL for the credentials' own tables: sign_in_failures (lockout), refresh_tokens,
password_change_tickets and signing_keys. Accounts, their passwords and one-time codes are in
`store` (one module per table).

Every change to an account's refresh tokens runs under that account's row lock (`store.lock_account`),
so that a rotation, a logout and a password change serialise instead of missing each other's rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypeAlias

import asyncpg
from pydantic import BaseModel, ConfigDict

Db: TypeAlias = asyncpg.Connection | asyncpg.Pool


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- sign-in failures: lockout per source ---


class SignInFailures(_Row):
    """What failed sign-ins left on an account: the source's own count and lock, and every source's
    recent failures together."""

    failures: int  # in a row from this source
    locked_at: datetime | None  # this source's lock
    recent_failures: int  # from every source since the window started


_SIGN_IN_FAILURES = """
SELECT coalesce(max(failures) FILTER (WHERE source = $2), 0) AS failures,
       max(locked_at) FILTER (WHERE source = $2) AS locked_at,
       coalesce(sum(failures) FILTER (WHERE last_failed_at > $3), 0) AS recent_failures
  FROM sign_in_failures WHERE account_id = $1
"""
# Counting and locking in one statement: parallel wrong guesses cannot slip past the threshold. A
# count restarts after an expired lock or when the source's last failure is older than the window
# ($5). A lock in force ($6: locks taken at or before it are over; NULL: none ever is) is left as it
# is and no row comes back. A new lock is also noted on the account, for the admins' view.
_RECORD_SIGN_IN_FAILURE = """
WITH counted AS (
    INSERT INTO sign_in_failures AS f (account_id, source, failures, last_failed_at, locked_at)
    VALUES ($1, $2, 1, $3, CASE WHEN 1 >= $4 THEN $3::timestamptz END)
    ON CONFLICT (account_id, source) DO UPDATE SET
        failures = CASE WHEN f.locked_at IS NOT NULL OR f.last_failed_at <= $5 THEN 1
                        ELSE f.failures + 1 END,
        last_failed_at = $3,
        locked_at = CASE WHEN (CASE WHEN f.locked_at IS NOT NULL OR f.last_failed_at <= $5 THEN 1
                                    ELSE f.failures + 1 END) >= $4
                         THEN $3::timestamptz END
     WHERE f.locked_at IS NULL OR f.locked_at <= $6::timestamptz
    RETURNING failures, locked_at
), noted AS (
    UPDATE accounts SET locked_at = $3
     WHERE account_id = $1 AND EXISTS (SELECT 1 FROM counted WHERE locked_at IS NOT NULL)
)
SELECT failures, locked_at FROM counted
"""
# Sources whose failures are too old to count and whose lock (if any) is over: nothing to remember.
_FORGET_STALE_FAILURES = """
DELETE FROM sign_in_failures
 WHERE account_id = $1 AND last_failed_at <= $2
   AND (locked_at IS NULL OR locked_at <= $3::timestamptz)
"""
_CLEAR_SIGN_IN_FAILURES = """
WITH forgotten AS (DELETE FROM sign_in_failures WHERE account_id = $1)
UPDATE accounts SET locked_at = NULL WHERE account_id = $1
"""


async def sign_in_failures(
    db: Db, account_id: uuid.UUID, source: str, window_start: datetime
) -> SignInFailures:
    """The failures of `source` on the account, and of every source since `window_start`."""
    row = await db.fetchrow(_SIGN_IN_FAILURES, account_id, source, window_start)
    return SignInFailures(**dict(row))


async def record_sign_in_failure(
    db: Db,
    account_id: uuid.UUID,
    source: str,
    at: datetime,
    threshold: int,
    window_start: datetime,
    expired_locks_before: datetime | None,
) -> SignInFailures | None:
    """Count one more failure of `source`, locking it at the threshold; None when it is locked
    already. Sources with nothing left to remember are forgotten on the way."""
    row = await db.fetchrow(
        _RECORD_SIGN_IN_FAILURE, account_id, source, at, threshold, window_start, expired_locks_before
    )
    await db.execute(_FORGET_STALE_FAILURES, account_id, window_start, expired_locks_before)
    return (
        SignInFailures(failures=row["failures"], locked_at=row["locked_at"], recent_failures=0)
        if row
        else None
    )


async def clear_sign_in_failures(conn: asyncpg.Connection, account_id: uuid.UUID) -> None:
    """Forget every source's failures and locks (an admin's unlock)."""
    await conn.execute(_CLEAR_SIGN_IN_FAILURES, account_id)


# --- refresh tokens ---


class RefreshToken(_Row):
    family_id: uuid.UUID
    account_id: uuid.UUID
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


_REFRESH_TOKEN_COLUMNS = "family_id, account_id, issued_at, expires_at, used_at, revoked_at"
_ADD_REFRESH_TOKEN = """
INSERT INTO refresh_tokens (token_hash, family_id, account_id, issued_at, expires_at)
VALUES ($1, $2, $3, $4, $5)
"""
_REFRESH_TOKEN_OWNER = "SELECT account_id FROM refresh_tokens WHERE token_hash = $1"
_LOCK_REFRESH_TOKEN = f"SELECT {_REFRESH_TOKEN_COLUMNS} FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE"
_USE_REFRESH_TOKEN = "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1"
_REVOKE_FAMILY = "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL"
_REVOKE_ACCOUNT_FAMILIES = """
WITH revoked AS (
    UPDATE refresh_tokens SET revoked_at = $2
     WHERE account_id = $1 AND revoked_at IS NULL AND family_id IS DISTINCT FROM $3::uuid
       AND expires_at > $2
    RETURNING family_id
)
SELECT count(DISTINCT family_id) FROM revoked
"""
# Sessions not ended yet whose access tokens may still live: each access token is issued with a
# refresh token of its session, at the same instant ($2: tokens issued before it have expired).
_LIVE_SESSIONS = """
SELECT DISTINCT family_id FROM refresh_tokens
 WHERE account_id = $1 AND issued_at > $2 AND revoked_at IS NULL AND family_id IS DISTINCT FROM $3::uuid
"""
# All tokens of a family expire together: a family past its expiry is of no use, even for reuse
# detection. It is kept until its last access token has expired ($2), so that ending every session
# of the account still names it.
_PRUNE_EXPIRED = "DELETE FROM refresh_tokens WHERE account_id = $1 AND expires_at <= $2"


async def add_refresh_token(
    conn: asyncpg.Connection,
    digest: bytes,
    family_id: uuid.UUID,
    account_id: uuid.UUID,
    issued_at: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(_ADD_REFRESH_TOKEN, digest, family_id, account_id, issued_at, expires_at)


async def refresh_token_owner(db: Db, digest: bytes) -> uuid.UUID | None:
    """The account of a refresh token (read without a lock: lock the account first, then the token)."""
    owner: uuid.UUID | None = await db.fetchval(_REFRESH_TOKEN_OWNER, digest)
    return owner


async def lock_refresh_token(conn: asyncpg.Connection, digest: bytes) -> RefreshToken | None:
    """The token, locked: of two refreshes with the same token, the second waits and sees it used."""
    row = await conn.fetchrow(_LOCK_REFRESH_TOKEN, digest)
    return RefreshToken(**dict(row)) if row else None


async def use_refresh_token(conn: asyncpg.Connection, digest: bytes, at: datetime) -> None:
    await conn.execute(_USE_REFRESH_TOKEN, digest, at)


async def revoke_family(conn: asyncpg.Connection, family_id: uuid.UUID, at: datetime) -> bool:
    """Revoke a family; False when it was revoked already."""
    result: str = await conn.execute(_REVOKE_FAMILY, family_id, at)
    return result != "UPDATE 0"


async def live_sessions(
    conn: asyncpg.Connection, account_id: uuid.UUID, issued_after: datetime, keep: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """The account's sessions (families) but `keep`, not revoked yet, that issued a token after
    `issued_after` (the oldest issue time of an access token still alive)."""
    return [row["family_id"] for row in await conn.fetch(_LIVE_SESSIONS, account_id, issued_after, keep)]


async def revoke_account_families(
    conn: asyncpg.Connection, account_id: uuid.UUID, at: datetime, keep: uuid.UUID | None = None
) -> int:
    """Revoke every live family of the account but `keep`; returns how many were revoked."""
    count: int = await conn.fetchval(_REVOKE_ACCOUNT_FAMILIES, account_id, at, keep)
    return count


async def prune_expired_refresh_tokens(
    conn: asyncpg.Connection, account_id: uuid.UUID, expired_before: datetime
) -> None:
    """Forget the families that expired before this instant."""
    await conn.execute(_PRUNE_EXPIRED, account_id, expired_before)


# --- password-change tickets ---

_PUT_CHANGE_TICKET = """
INSERT INTO password_change_tickets (account_id, token_hash, expires_at) VALUES ($1, $2, $3)
ON CONFLICT (account_id) DO UPDATE SET token_hash = excluded.token_hash, expires_at = excluded.expires_at
"""
_CHANGE_TICKET = """
SELECT t.account_id, a.tenant_id, t.expires_at
  FROM password_change_tickets t JOIN accounts a USING (account_id)
 WHERE t.token_hash = $1
"""
_TAKE_CHANGE_TICKET = "DELETE FROM password_change_tickets WHERE token_hash = $1 RETURNING true"
_DROP_CHANGE_TICKETS = "DELETE FROM password_change_tickets WHERE account_id = $1"


class ChangeTicket(_Row):
    account_id: uuid.UUID
    tenant_id: str
    expires_at: datetime


async def put_change_ticket(
    conn: asyncpg.Connection, account_id: uuid.UUID, digest: bytes, expires_at: datetime
) -> None:
    """The account's ticket (replacing an earlier one: only the latest works)."""
    await conn.execute(_PUT_CHANGE_TICKET, account_id, digest, expires_at)


async def change_ticket(db: Db, digest: bytes) -> ChangeTicket | None:
    row = await db.fetchrow(_CHANGE_TICKET, digest)
    return ChangeTicket(**dict(row)) if row else None


async def take_change_ticket(conn: asyncpg.Connection, digest: bytes) -> bool:
    """Use the ticket up (single use); False when it is gone (used, or replaced by a later login)."""
    return bool(await conn.fetchval(_TAKE_CHANGE_TICKET, digest))


async def drop_change_tickets(conn: asyncpg.Connection, account_id: uuid.UUID) -> None:
    await conn.execute(_DROP_CHANGE_TICKETS, account_id)


# --- signing keys ---


class StoredKey(_Row):
    """A signing key as stored: its private half (PEM) and when it signs and is published."""

    kid: str
    private_pem: str
    signs_from: datetime
    retired_at: datetime | None
    published_until: datetime | None


_KEYS = """
SELECT kid, private_pem, signs_from, retired_at, published_until FROM signing_keys ORDER BY signs_from, kid
"""
# The same lock as `store.active_signing_key`: whichever code creates keys, replicas take turns.
_LOCK_KEYS = "SELECT pg_advisory_xact_lock(hashtextextended('comptoir.signing_keys.' || current_schema(), 0))"
_ADD_KEY = """
INSERT INTO signing_keys (kid, private_pem, active, created_at, signs_from) VALUES ($1, $2, true, $3, $4)
"""
_RETIRE_KEY = "UPDATE signing_keys SET retired_at = $2, published_until = $3 WHERE kid = $1"
# A private key whose tokens have all expired is of no use any more: better gone than leaked.
_DROP_KEYS = "DELETE FROM signing_keys WHERE published_until <= $1"


async def signing_keys(db: Db) -> list[StoredKey]:
    """Every stored key, oldest first."""
    return [StoredKey(**dict(row)) for row in await db.fetch(_KEYS)]


async def lock_signing_keys(conn: asyncpg.Connection) -> None:
    """Until the transaction ends, no other replica creates or retires keys."""
    await conn.execute(_LOCK_KEYS)


async def add_signing_key(
    conn: asyncpg.Connection, kid: str, private_pem: str, created_at: datetime, signs_from: datetime
) -> None:
    await conn.execute(_ADD_KEY, kid, private_pem, created_at, signs_from)


async def retire_signing_key(
    conn: asyncpg.Connection, kid: str, retired_at: datetime, published_until: datetime
) -> None:
    await conn.execute(_RETIRE_KEY, kid, retired_at, published_until)


async def drop_signing_keys(conn: asyncpg.Connection, now: datetime) -> None:
    await conn.execute(_DROP_KEYS, now)
