"""API clients: a tenant's systems (its ERP) holding client credentials, exchanged for access tokens
with the `integration` role. The secret is shown once; a rotation or a revocation ends the tokens of
the old secret at once (their `sid` is the secret's generation, announced like an ended session)."""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from libs.common import outbox
from libs.common.auth import AUDIENCE, ISSUER
from libs.common.errors import Conflict, Unauthenticated
from services.identity.events import SERVICE, RevocationReason, SessionsRevoked
from services.identity.policy import Policy
from services.identity.sessions import secret_digest
from services.identity.signing import current_key

INTEGRATION = "integration"
SECRET_BYTES = 32
# A client id and a secret in one string would leak both in one log line: they travel apart.
_SECRET_PREFIX = "cs_"


@dataclass(frozen=True)
class ApiClient:
    client_id: uuid.UUID
    tenant_id: str
    name: str
    created_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedSecret:
    client: ApiClient
    secret: str  # shown once


@dataclass(frozen=True)
class ClientToken:
    access_token: str
    expires_in: int


_COLUMNS = "client_id, tenant_id, name, created_at, rotated_at, revoked_at"
_ADD = f"""
INSERT INTO api_clients (client_id, tenant_id, name, secret_digest, generation, created_at)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}
"""
_LIST = f"SELECT {_COLUMNS} FROM api_clients WHERE tenant_id = $1 ORDER BY created_at, client_id"
_FIND = f"SELECT {_COLUMNS}, generation FROM api_clients WHERE tenant_id = $1 AND client_id = $2 FOR UPDATE"
_ROTATE = f"""
UPDATE api_clients SET secret_digest = $3, generation = $4, rotated_at = $5
WHERE tenant_id = $1 AND client_id = $2 RETURNING {_COLUMNS}
"""
_REVOKE = f"""
UPDATE api_clients SET revoked_at = $3 WHERE tenant_id = $1 AND client_id = $2 RETURNING {_COLUMNS}
"""
_CREDENTIALS = """
SELECT tenant_id, secret_digest, generation FROM api_clients WHERE client_id = $1 AND revoked_at IS NULL
"""


def _client(row: Any) -> ApiClient:
    return ApiClient(**{name: row[name] for name in _COLUMNS.split(", ")})


def _new_secret() -> tuple[str, bytes]:
    secret = _SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    return secret, secret_digest(secret)


async def add_client(conn: asyncpg.Connection, tenant_id: str, name: str, now: datetime) -> IssuedSecret:
    secret, digest = _new_secret()
    row = await conn.fetchrow(_ADD, uuid.uuid4(), tenant_id, name, digest, uuid.uuid4(), now)
    return IssuedSecret(_client(row), secret)


async def clients(db: asyncpg.Connection | asyncpg.Pool, tenant_id: str) -> list[ApiClient]:
    return [_client(row) for row in await db.fetch(_LIST, tenant_id)]


async def find_client(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, client_id: uuid.UUID
) -> ApiClient | None:
    row = await db.fetchrow(_FIND.replace(" FOR UPDATE", ""), tenant_id, client_id)
    return _client(row) if row else None


async def _locked(conn: asyncpg.Connection, tenant_id: str, client_id: uuid.UUID) -> Any:
    row = await conn.fetchrow(_FIND, tenant_id, client_id)
    if row is None or row["revoked_at"] is not None:
        raise Conflict("client-revoked", "The client is revoked", "a revoked client gets no new secret")
    return row


async def rotate_secret(
    conn: asyncpg.Connection, policy: Policy, tenant_id: str, client_id: uuid.UUID
) -> IssuedSecret:
    """A new secret; the old one and its tokens stop working now."""
    row = await _locked(conn, tenant_id, client_id)
    secret, digest = _new_secret()
    now = policy.clock()
    rotated = await conn.fetchrow(_ROTATE, tenant_id, client_id, digest, uuid.uuid4(), now)
    await _end_tokens(conn, policy, tenant_id, client_id, row["generation"], "password_changed")
    return IssuedSecret(_client(rotated), secret)


async def revoke(conn: asyncpg.Connection, policy: Policy, tenant_id: str, client_id: uuid.UUID) -> ApiClient:
    """The client stops working, its tokens at once; revoking it again changes nothing."""
    row = await conn.fetchrow(_FIND, tenant_id, client_id)
    if row["revoked_at"] is not None:
        return _client(row)
    revoked = await conn.fetchrow(_REVOKE, tenant_id, client_id, policy.clock())
    await _end_tokens(conn, policy, tenant_id, client_id, row["generation"], "account_deleted")
    return _client(revoked)


async def _end_tokens(
    conn: asyncpg.Connection,
    policy: Policy,
    tenant_id: str,
    client_id: uuid.UUID,
    generation: uuid.UUID,
    reason: RevocationReason,
) -> None:
    """The old secret's tokens end as a person's session does: its secret is the client's password."""
    now = policy.clock()
    ended = SessionsRevoked(
        account_id=str(client_id),
        session_ids=[str(generation)],
        reason=reason,
        revoked_at=now,
        tokens_expire_by=now + policy.access_token_ttl,
    )
    await outbox.publish(conn, SERVICE, ended, subject=str(client_id), tenant_id=tenant_id)


def _refused() -> Unauthenticated:
    return Unauthenticated(
        "invalid-client", "Invalid client", "unknown client, wrong secret or revoked client"
    )


async def issue_token(pool: asyncpg.Pool, policy: Policy, client_id: str, secret: str) -> ClientToken:
    """An access token for the client's tenant with the integration role; the same refusal whatever
    was wrong (unknown client, wrong secret, revoked)."""
    try:
        known = uuid.UUID(client_id)
    except ValueError:
        raise _refused() from None
    row = await pool.fetchrow(_CREDENTIALS, known)
    if row is None or not hmac.compare_digest(row["secret_digest"], secret_digest(secret)):
        raise _refused()
    now = policy.clock()
    issued = int(now.timestamp())
    ttl = int(policy.access_token_ttl.total_seconds())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(known),
        "tid": row["tenant_id"],
        "roles": [INTEGRATION],
        "sid": str(row["generation"]),
        "iat": issued,
        "exp": issued + ttl,
    }
    key = await current_key(pool, policy)
    return ClientToken(access_token=key.sign(claims), expires_in=ttl)
