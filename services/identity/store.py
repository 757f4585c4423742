"""Identity's SQL: signing keys, tenants, organisations, accounts and activation tokens."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TypeAlias

import asyncpg
from pydantic import BaseModel, ConfigDict

from services.identity.domain import Account, ActivationToken, NewAccount, Organisation, TenantSettings

Db: TypeAlias = asyncpg.Connection | asyncpg.Pool  # reads run on either; writes need a connection


# --- signing keys ---


class StoredKey(BaseModel):
    """A signing key as stored: its id and its private half (PEM)."""

    model_config = ConfigDict(frozen=True)

    kid: str
    private_pem: str


_NEWEST_ACTIVE_KEY = (
    "SELECT kid, private_pem FROM signing_keys WHERE active ORDER BY created_at DESC, kid LIMIT 1"
)
_ALL_KEYS = "SELECT kid, private_pem FROM signing_keys ORDER BY created_at"
# Per schema: two replicas must not both create the first key, but two deployments may.
_LOCK_KEYS = "SELECT pg_advisory_xact_lock(hashtextextended('comptoir.signing_keys.' || current_schema(), 0))"
_ADD_KEY = "INSERT INTO signing_keys (kid, private_pem, active) VALUES ($1, $2, true)"


async def active_signing_key(pool: asyncpg.Pool, new_key: Callable[[], StoredKey]) -> StoredKey:
    """The newest active key; on first use, `new_key()` is stored and returned (once for all replicas)."""
    row = await pool.fetchrow(_NEWEST_ACTIVE_KEY)
    if row is not None:
        return StoredKey(**dict(row))
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_LOCK_KEYS)
        # Another replica may have created it while we waited for the lock.
        row = await conn.fetchrow(_NEWEST_ACTIVE_KEY)
        if row is not None:
            return StoredKey(**dict(row))
        key = new_key()
        await conn.execute(_ADD_KEY, key.kid, key.private_pem)
        return key


async def signing_keys(db: Db) -> list[StoredKey]:
    """Every key, active or retired: tokens signed by a retired key stay valid until they expire."""
    return [StoredKey(**dict(row)) for row in await db.fetch(_ALL_KEYS)]


# --- tenants and organisations ---

_ADD_TENANT = "INSERT INTO tenants (tenant_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true"
_TENANT_EXISTS = "SELECT EXISTS (SELECT 1 FROM tenants WHERE tenant_id = $1)"
_ORGANISATION_COLUMNS = "organisation_id, tenant_id, name, customer_code"
_ADD_ORGANISATION = f"""
INSERT INTO organisations (organisation_id, tenant_id, name, customer_code) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, customer_code) DO NOTHING
RETURNING {_ORGANISATION_COLUMNS}
"""
_ORGANISATION_EXISTS = (
    "SELECT EXISTS (SELECT 1 FROM organisations WHERE tenant_id = $1 AND organisation_id = $2)"
)
_ORGANISATIONS = (
    f"SELECT {_ORGANISATION_COLUMNS} FROM organisations WHERE tenant_id = $1 ORDER BY name, customer_code"
)


async def add_tenant(conn: asyncpg.Connection, tenant_id: str, name: str) -> bool:
    """Create the tenant; False when it already exists."""
    return bool(await conn.fetchval(_ADD_TENANT, tenant_id, name))


async def tenant_exists(db: Db, tenant_id: str) -> bool:
    return bool(await db.fetchval(_TENANT_EXISTS, tenant_id))


async def add_organisation(
    conn: asyncpg.Connection, tenant_id: str, name: str, customer_code: str
) -> Organisation | None:
    """Create an organisation; None when the tenant already has one with this customer code."""
    row = await conn.fetchrow(_ADD_ORGANISATION, uuid.uuid4(), tenant_id, name, customer_code)
    return Organisation(**dict(row)) if row else None


async def organisation_exists(db: Db, tenant_id: str, organisation_id: uuid.UUID) -> bool:
    return bool(await db.fetchval(_ORGANISATION_EXISTS, tenant_id, organisation_id))


async def organisations(db: Db, tenant_id: str) -> list[Organisation]:
    return [Organisation(**dict(row)) for row in await db.fetch(_ORGANISATIONS, tenant_id)]


# --- tenant settings ---

_TENANT_SETTINGS = (
    f"SELECT {', '.join(TenantSettings.model_fields)} FROM tenant_settings WHERE tenant_id = $1"
)


async def tenant_settings(db: Db, tenant_id: str) -> TenantSettings | None:
    """The tenant's settings; None when there is no such tenant."""
    row = await db.fetchrow(_TENANT_SETTINGS, tenant_id)
    return TenantSettings(**dict(row)) if row else None


# --- accounts ---

_ACCOUNT_COLUMNS = (
    "account_id, tenant_id, email, display_name, locale, roles, organisation_id, status,"
    " created_at, activated_at, first_name, last_name, birth_date, phone, address, passport,"
    " registration_number, card_number, sponsor_id, password_change_required, failed_logins,"
    " locked_at, last_login_at, last_order_at, password_hash"
)
# The email's uniqueness is per tenant and case-insensitive (the accounts_email index).
_ADD_ACCOUNT = f"""
INSERT INTO accounts (account_id, tenant_id, email, password_hash, display_name, locale, roles,
                      organisation_id, status, created_at, activated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (tenant_id, lower(email)) DO NOTHING
RETURNING {_ACCOUNT_COLUMNS}
"""
_ACCOUNT_BY_EMAIL = (
    f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE tenant_id = $1 AND lower(email) = lower($2)"
)
_ACCOUNT = f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE tenant_id = $1 AND account_id = $2"
_LOCK_ACCOUNT = f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE account_id = $1 FOR UPDATE"
_ACTIVATE_ACCOUNT = "UPDATE accounts SET status = 'active', activated_at = $2 WHERE account_id = $1"


def _account(row: asyncpg.Record | None) -> Account | None:
    return Account(**dict(row)) if row else None


async def add_account(
    conn: asyncpg.Connection,
    new: NewAccount,
    password_hash: str,
    *,
    created_at: datetime,
    activated_at: datetime | None = None,
) -> Account | None:
    """Create an account, active when `activated_at` is given; None when the email is taken."""
    row = await conn.fetchrow(
        _ADD_ACCOUNT,
        uuid.uuid4(),
        new.tenant_id,
        new.email,
        password_hash,
        new.display_name,
        new.locale,
        new.roles,
        new.organisation_id,
        "pending" if activated_at is None else "active",
        created_at,
        activated_at,
    )
    return _account(row)


async def account_by_email(db: Db, tenant_id: str, email: str) -> Account | None:
    return _account(await db.fetchrow(_ACCOUNT_BY_EMAIL, tenant_id, email))


async def account(db: Db, tenant_id: str, account_id: uuid.UUID) -> Account | None:
    return _account(await db.fetchrow(_ACCOUNT, tenant_id, account_id))


async def lock_account(conn: asyncpg.Connection, account_id: uuid.UUID) -> Account | None:
    """The account, locked until the transaction ends (its events then keep commit order)."""
    return _account(await conn.fetchrow(_LOCK_ACCOUNT, account_id))


async def activate_account(conn: asyncpg.Connection, account_id: uuid.UUID, at: datetime) -> None:
    await conn.execute(_ACTIVATE_ACCOUNT, account_id, at)


# --- activation tokens ---

_ADD_ACTIVATION_TOKEN = (
    "INSERT INTO activation_tokens (token_hash, account_id, expires_at) VALUES ($1, $2, $3)"
)
_LOCK_ACTIVATION_TOKEN = (
    "SELECT account_id, expires_at, used_at FROM activation_tokens WHERE token_hash = $1 FOR UPDATE"
)
_USE_ACTIVATION_TOKEN = "UPDATE activation_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL"


async def add_activation_token(
    conn: asyncpg.Connection, digest: bytes, account_id: uuid.UUID, expires_at: datetime
) -> None:
    await conn.execute(_ADD_ACTIVATION_TOKEN, digest, account_id, expires_at)


async def lock_activation_token(conn: asyncpg.Connection, digest: bytes) -> ActivationToken | None:
    """The token with this digest, locked so that two clicks at once activate once."""
    row = await conn.fetchrow(_LOCK_ACTIVATION_TOKEN, digest)
    return ActivationToken(**dict(row)) if row else None


async def use_activation_token(conn: asyncpg.Connection, digest: bytes, at: datetime) -> None:
    await conn.execute(_USE_ACTIVATION_TOKEN, digest, at)
