"""Identity's SQL for its tenants, organisations and accounts; credentials' own tables are in
`session_store`. Each table has its statements in one module only:

- here: tenants, tenant_settings, registration_counters, organisations, accounts (reads, lookups by
  login, profile, password and login updates), activation_tokens, one_time_codes (activation and
  recovery codes);
- `session_store`: sign_in_failures, refresh_tokens, password_change_tickets, signing_keys.

A statement that writes a second table in the same statement (a login that forgets the source's
failures, a lock noted on the account) lives with the table it is about."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeAlias

import asyncpg

from services.identity.domain import (
    ADMIN,
    Account,
    ActivationToken,
    CodePurpose,
    NewAccount,
    OneTimeCode,
    Organisation,
    OrganisationDetails,
    TenantSettings,
    registration_number,
)

Db: TypeAlias = asyncpg.Connection | asyncpg.Pool  # reads run on either; writes need a connection


class Taken(Exception):
    """A value that must be unique in the tenant is already used (`field` names it)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} already used")
        self.field = field


_UNIQUE_FIELDS = {
    "accounts_email": "email",
    "accounts_card_number": "card_number",
    "accounts_registration_number": "registration_number",
    "organisations_tenant_id_customer_code_key": "customer_code",
}


def _taken(exc: asyncpg.UniqueViolationError) -> Taken:
    return Taken(_UNIQUE_FIELDS.get(exc.constraint_name or "", exc.constraint_name or "value"))


# --- tenants and their settings ---

_ADD_TENANT = "INSERT INTO tenants (tenant_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true"
_ADD_TENANT_SETTINGS = "INSERT INTO tenant_settings (tenant_id, time_zone) VALUES ($1, $2)"
_TENANT_EXISTS = "SELECT EXISTS (SELECT 1 FROM tenants WHERE tenant_id = $1)"
# Changes to who is a tenant's admin are serialised on its row. NO KEY UPDATE: registrations, which
# only hold a key-share lock on it (their foreign key), go on meanwhile.
_LOCK_TENANT = "SELECT true FROM tenants WHERE tenant_id = $1 FOR NO KEY UPDATE"
_SETTINGS_FIELDS = list(TenantSettings.model_fields)
_TENANT_SETTINGS = f"SELECT {', '.join(_SETTINGS_FIELDS)} FROM tenant_settings WHERE tenant_id = $1"
_UPDATE_TENANT_SETTINGS = f"""
UPDATE tenant_settings SET {", ".join(f"{name} = ${i}" for i, name in enumerate(_SETTINGS_FIELDS, start=2))},
    updated_at = now()
WHERE tenant_id = $1
RETURNING {", ".join(_SETTINGS_FIELDS)}
"""


async def add_tenant(conn: asyncpg.Connection, tenant_id: str, name: str, time_zone: str) -> bool:
    """Create the tenant with the default settings in its time zone; False when it already exists."""
    if not await conn.fetchval(_ADD_TENANT, tenant_id, name):
        return False
    await conn.execute(_ADD_TENANT_SETTINGS, tenant_id, time_zone)
    return True


_TENANT_PUBLIC = """
SELECT t.tenant_id, t.name, s.time_zone, s.login_identifiers, s.password_min_length, s.password_classes
FROM tenants t JOIN tenant_settings s USING (tenant_id) WHERE t.tenant_id = $1
"""


async def tenant_public(db: Db, tenant_id: str) -> dict[str, Any] | None:
    """What anyone may know of a tenant; None when there is no such tenant."""
    row = await db.fetchrow(_TENANT_PUBLIC, tenant_id)
    return dict(row) if row else None


async def tenant_exists(db: Db, tenant_id: str) -> bool:
    return bool(await db.fetchval(_TENANT_EXISTS, tenant_id))


async def lock_tenant(conn: asyncpg.Connection, tenant_id: str) -> None:
    await conn.execute(_LOCK_TENANT, tenant_id)


async def tenant_settings(db: Db, tenant_id: str) -> TenantSettings | None:
    """The tenant's settings; None when there is no such tenant."""
    row = await db.fetchrow(_TENANT_SETTINGS, tenant_id)
    return TenantSettings(**dict(row)) if row else None


async def replace_tenant_settings(
    conn: asyncpg.Connection, tenant_id: str, settings: TenantSettings
) -> TenantSettings:
    values = [list(v) if isinstance(v, tuple) else v for v in settings.model_dump().values()]
    row = await conn.fetchrow(_UPDATE_TENANT_SETTINGS, tenant_id, *values)
    assert row is not None, "every tenant has its settings row"
    return TenantSettings(**dict(row))


# --- organisations ---

_ORGANISATION_COLUMNS = (
    "organisation_id, tenant_id, name, customer_code, created_at, kind, address, phone, opening_hours"
)
_ADD_ORGANISATION = f"""
INSERT INTO organisations (organisation_id, tenant_id, name, customer_code, kind, address, phone,
                           opening_hours)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)
ON CONFLICT (tenant_id, customer_code) DO NOTHING
RETURNING {_ORGANISATION_COLUMNS}
"""
_ORGANISATION_EXISTS = (
    "SELECT EXISTS (SELECT 1 FROM organisations WHERE tenant_id = $1 AND organisation_id = $2)"
)
_ORGANISATIONS = (
    f"SELECT {_ORGANISATION_COLUMNS} FROM organisations WHERE tenant_id = $1 ORDER BY name, customer_code"
)
_ORGANISATION = f"SELECT {_ORGANISATION_COLUMNS} FROM organisations WHERE organisation_id = $1"
_ORGANISATION_BY_CODE = (
    f"SELECT {_ORGANISATION_COLUMNS} FROM organisations WHERE tenant_id = $1 AND customer_code = $2"
)
_LOCK_ORGANISATION = (
    f"SELECT {_ORGANISATION_COLUMNS} FROM organisations WHERE organisation_id = $1 FOR UPDATE"
)
_UPDATE_ORGANISATION = f"""
UPDATE organisations SET name = $2, customer_code = $3, address = $4::jsonb, phone = $5, opening_hours = $6
WHERE organisation_id = $1
RETURNING {_ORGANISATION_COLUMNS}
"""


def _organisation(row: Mapping[str, Any] | None) -> Organisation | None:
    if row is None:
        return None
    fields = dict(row)
    if isinstance(fields["address"], str):  # jsonb arrives as its text
        fields["address"] = json.loads(fields["address"])
    return Organisation(**fields)


async def add_organisation(
    conn: asyncpg.Connection, tenant_id: str, name: str, customer_code: str, details: OrganisationDetails
) -> Organisation | None:
    """Create an organisation; None when the tenant already has one with this customer code."""
    d = details
    row = await conn.fetchrow(
        _ADD_ORGANISATION,
        uuid.uuid4(),
        tenant_id,
        name,
        customer_code,
        d.kind,
        _json(d.address),
        d.phone,
        d.opening_hours,
    )
    return _organisation(row)


async def organisation_exists(db: Db, tenant_id: str, organisation_id: uuid.UUID) -> bool:
    return bool(await db.fetchval(_ORGANISATION_EXISTS, tenant_id, organisation_id))


async def organisations(db: Db, tenant_id: str) -> list[Organisation]:
    return [o for row in await db.fetch(_ORGANISATIONS, tenant_id) if (o := _organisation(row))]


async def organisation(db: Db, organisation_id: uuid.UUID) -> Organisation | None:
    """The organisation with this id, whatever its tenant (the caller checks it)."""
    return _organisation(await db.fetchrow(_ORGANISATION, organisation_id))


async def organisation_by_code(db: Db, tenant_id: str, customer_code: str) -> Organisation | None:
    return _organisation(await db.fetchrow(_ORGANISATION_BY_CODE, tenant_id, customer_code))


async def lock_organisation(conn: asyncpg.Connection, organisation_id: uuid.UUID) -> Organisation | None:
    return _organisation(await conn.fetchrow(_LOCK_ORGANISATION, organisation_id))


async def update_organisation(conn: asyncpg.Connection, organisation: Organisation) -> Organisation:
    """Store an organisation's name, customer code and details; raises Taken when the code is used."""
    o = organisation
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                _UPDATE_ORGANISATION,
                o.organisation_id,
                o.name,
                o.customer_code,
                _json(o.address),
                o.phone,
                o.opening_hours,
            )
    except asyncpg.UniqueViolationError as exc:
        raise _taken(exc) from None
    updated = _organisation(row)
    assert updated is not None, "the caller locked the organisation"
    return updated


# --- accounts ---

_ACCOUNT_COLUMNS = (
    "account_id, tenant_id, email, display_name, locale, roles, organisation_id, status,"
    " created_at, activated_at, first_name, last_name, birth_date, phone, address, passport,"
    " registration_number, card_number, sponsor_id, professional, home_shop_id, password_change_required,"
    " locked_at, last_login_at, last_order_at, password_hash"
)
# The same, qualified, for queries that join accounts as `a`.
_A_COLUMNS = ", ".join(f"a.{column.strip()}" for column in _ACCOUNT_COLUMNS.split(","))
_NEXT_REGISTRATION_NUMBER = """
INSERT INTO registration_counters (tenant_id, last_value) VALUES ($1, 1)
ON CONFLICT (tenant_id) DO UPDATE SET last_value = registration_counters.last_value + 1
RETURNING last_value
"""
# Uniqueness (email per tenant whatever its case, card and registration numbers) is the indexes'.
_ADD_ACCOUNT = f"""
INSERT INTO accounts (account_id, tenant_id, email, password_hash, display_name, locale, roles,
                      organisation_id, status, created_at, activated_at, first_name, last_name,
                      birth_date, phone, address, passport, registration_number, card_number,
                      sponsor_id, password_change_required, professional, home_shop_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb, $17, $18, $19,
        $20, $21, $22, $23)
RETURNING {_ACCOUNT_COLUMNS}
"""
_ACCOUNT_BY_EMAIL = (
    f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE tenant_id = $1 AND lower(email) = lower($2)"
)
# A login typed by a person: the email (any case), the registration number or the card number.
_ACCOUNT_BY_IDENTIFIER = f"""
SELECT {_ACCOUNT_COLUMNS} FROM accounts
WHERE tenant_id = $1 AND (lower(email) = lower($2) OR registration_number = $2 OR card_number = upper($2))
ORDER BY lower(email) = lower($2) DESC, (registration_number = $2) IS TRUE DESC
LIMIT 1
"""
_ACCOUNT = f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE tenant_id = $1 AND account_id = $2"
_ACCOUNT_ANYWHERE = f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE account_id = $1"
_LOCK_ACCOUNT = f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE account_id = $1 FOR UPDATE"
_ACTIVATE_ACCOUNT = """
UPDATE accounts SET status = 'active', activated_at = $2,
    password_hash = coalesce($3, password_hash),
    password_change_required = CASE WHEN $3::text IS NULL THEN password_change_required ELSE false END
WHERE account_id = $1
"""
_UPDATE_PROFILE = f"""
UPDATE accounts SET email = $2, display_name = $3, locale = $4, first_name = $5, last_name = $6,
    birth_date = $7, phone = $8, address = $9::jsonb, passport = $10
WHERE account_id = $1
RETURNING {_ACCOUNT_COLUMNS}
"""
_SET_MEMBERSHIP = f"""
UPDATE accounts SET roles = $2, organisation_id = $3, professional = $4 WHERE account_id = $1
RETURNING {_ACCOUNT_COLUMNS}
"""
# Only active admins count: an invited one may never activate.
_OTHER_ADMINS = """
SELECT count(*) FROM accounts
WHERE tenant_id = $1 AND account_id <> $2 AND $3 = ANY (roles) AND status = 'active'
"""
# Codes, tokens and refresh tokens go with the row (ON DELETE CASCADE); recruits lose their sponsor.
_DELETE_ACCOUNT = "DELETE FROM accounts WHERE account_id = $1"
# Events may come late or twice: the last order is the latest one seen.
_RECORD_ORDER = """
UPDATE accounts SET last_order_at = greatest(last_order_at, $3)
WHERE tenant_id = $1 AND account_id = $2
"""
_ACTIVATION_SENT_AT = "SELECT activation_sent_at FROM accounts WHERE account_id = $1"
_MARK_ACTIVATION_SENT = "UPDATE accounts SET activation_sent_at = $2 WHERE account_id = $1"


def _account(row: Mapping[str, Any] | None) -> Account | None:
    if row is None:
        return None
    fields = dict(row)
    # No jsonb codec on the pool: asyncpg hands jsonb over as its text.
    if isinstance(fields["address"], str):
        fields["address"] = json.loads(fields["address"])
    return Account(**fields)


def _accounts(rows: Sequence[asyncpg.Record]) -> list[Account]:
    return [account for row in rows if (account := _account(row)) is not None]


def _json(value: object | None) -> str | None:
    return None if value is None else json.dumps(value)


async def add_account(
    conn: asyncpg.Connection,
    new: NewAccount,
    password_hash: str | None,
    *,
    created_at: datetime,
    activated_at: datetime | None = None,
) -> Account:
    """Create an account with the tenant's next registration number, active when `activated_at` is
    given. Raises Taken when its email or card number is used (the caller's transaction stays usable)."""
    try:
        async with conn.transaction():
            number = await conn.fetchval(_NEXT_REGISTRATION_NUMBER, new.tenant_id)
            row = await conn.fetchrow(
                _ADD_ACCOUNT,
                new.account_id or uuid.uuid4(),
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
                new.first_name,
                new.last_name,
                new.birth_date,
                new.phone,
                _json(new.address),
                new.passport,
                registration_number(number),
                new.card_number,
                new.sponsor_id,
                new.password_change_required,
                new.professional,
                new.home_shop_id,
            )
    except asyncpg.UniqueViolationError as exc:
        raise _taken(exc) from None
    account = _account(row)
    assert account is not None
    return account


async def account_by_email(db: Db, tenant_id: str, email: str) -> Account | None:
    return _account(await db.fetchrow(_ACCOUNT_BY_EMAIL, tenant_id, email))


async def account_by_identifier(db: Db, tenant_id: str, identifier: str) -> Account | None:
    """The account a person means by this login: email, registration number or card number."""
    return _account(await db.fetchrow(_ACCOUNT_BY_IDENTIFIER, tenant_id, identifier.strip()))


async def account(db: Db, tenant_id: str, account_id: uuid.UUID) -> Account | None:
    return _account(await db.fetchrow(_ACCOUNT, tenant_id, account_id))


async def account_anywhere(db: Db, account_id: uuid.UUID) -> Account | None:
    """The account with this id, whatever its tenant (an owner lookup: the guard checks the tenant)."""
    return _account(await db.fetchrow(_ACCOUNT_ANYWHERE, account_id))


async def lock_account(conn: asyncpg.Connection, account_id: uuid.UUID) -> Account | None:
    """The account, locked until the transaction ends (its events then keep commit order)."""
    return _account(await conn.fetchrow(_LOCK_ACCOUNT, account_id))


async def activate_account(
    conn: asyncpg.Connection, account_id: uuid.UUID, at: datetime, password_hash: str | None = None
) -> None:
    """Make the account active; with a password its owner chose, which she need not change."""
    await conn.execute(_ACTIVATE_ACCOUNT, account_id, at, password_hash)


async def update_profile(conn: asyncpg.Connection, account: Account) -> Account:
    """Store the account's own details as given; raises Taken when the new email is used."""
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                _UPDATE_PROFILE,
                account.account_id,
                account.email,
                account.display_name,
                account.locale,
                account.first_name,
                account.last_name,
                account.birth_date,
                account.phone,
                _json(account.address),
                account.passport,
            )
    except asyncpg.UniqueViolationError as exc:
        raise _taken(exc) from None
    updated = _account(row)
    assert updated is not None, "the caller locked the account"
    return updated


async def set_membership(
    conn: asyncpg.Connection,
    account_id: uuid.UUID,
    roles: list[str],
    organisation_id: uuid.UUID | None,
    professional: bool,
) -> Account:
    updated = _account(await conn.fetchrow(_SET_MEMBERSHIP, account_id, roles, organisation_id, professional))
    assert updated is not None, "the caller locked the account"
    return updated


async def other_admins(conn: asyncpg.Connection, tenant_id: str, account_id: uuid.UUID) -> int:
    """How many active admins the tenant has besides this account."""
    return int(await conn.fetchval(_OTHER_ADMINS, tenant_id, account_id, ADMIN))


async def delete_account(conn: asyncpg.Connection, account_id: uuid.UUID) -> None:
    await conn.execute(_DELETE_ACCOUNT, account_id)


async def record_order(conn: asyncpg.Connection, tenant_id: str, account_id: uuid.UUID, at: datetime) -> bool:
    """Note an order of the account; False when the tenant has no such account."""
    return str(await conn.execute(_RECORD_ORDER, tenant_id, account_id, at)) == "UPDATE 1"


async def activation_sent_at(conn: asyncpg.Connection, account_id: uuid.UUID) -> datetime | None:
    value = await conn.fetchval(_ACTIVATION_SENT_AT, account_id)
    return value if isinstance(value, datetime) else None


async def mark_activation_sent(conn: asyncpg.Connection, account_id: uuid.UUID, at: datetime) -> None:
    await conn.execute(_MARK_ACTIVATION_SENT, account_id, at)


# --- listings ---

_SUMMARY_FILTERS = """
WHERE tenant_id = $1
  AND ($2::uuid IS NULL OR organisation_id = $2)
  AND ($3::uuid IS NULL OR account_id = $3)
  AND ($4::text IS NULL OR $4 = ANY (roles))
  AND ($5::text IS NULL OR status = $5)
  AND ($6::uuid IS NULL OR sponsor_id = $6)
  AND ($7::text IS NULL OR lower(email) LIKE $7 OR lower(display_name) LIKE $7
       OR registration_number LIKE $7 OR lower(card_number) LIKE $7)
"""
_ACCOUNTS = f"""
SELECT {_ACCOUNT_COLUMNS} FROM accounts {_SUMMARY_FILTERS}
ORDER BY created_at, account_id
LIMIT $8 OFFSET $9
"""
# The downline: her recruits, their recruits… (depth 1 = recruited by her). A sponsor is set once at
# registration, so the tree has no cycle; the depth bound is a guard all the same.
_TEAM = f"""
WITH RECURSIVE team AS (
    SELECT account_id, 1 AS depth FROM accounts WHERE sponsor_id = $1
    UNION ALL
    SELECT a.account_id, team.depth + 1 FROM accounts a JOIN team ON a.sponsor_id = team.account_id
    WHERE team.depth < $2
)
SELECT team.depth, {_A_COLUMNS}
FROM team JOIN accounts a USING (account_id)
ORDER BY team.depth, a.created_at, a.account_id
"""


def _like(text: str | None) -> str | None:
    if text is None:
        return None
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def accounts(
    db: Db,
    tenant_id: str,
    *,
    organisation_id: uuid.UUID | None = None,
    account_id: uuid.UUID | None = None,
    role: str | None = None,
    status: str | None = None,
    sponsor_id: uuid.UUID | None = None,
    text: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Account]:
    """The tenant's accounts matching every filter given, oldest first."""
    rows = await db.fetch(
        _ACCOUNTS,
        tenant_id,
        organisation_id,
        account_id,
        role,
        status,
        sponsor_id,
        _like(text),
        limit,
        offset,
    )
    return _accounts(rows)


async def team(db: Db, sponsor_id: uuid.UUID, max_depth: int) -> list[tuple[int, Account]]:
    """The sponsor's downline with each member's depth, nearest first."""
    found = []
    for row in await db.fetch(_TEAM, sponsor_id, max_depth):
        fields = dict(row)
        depth = int(fields.pop("depth"))
        account = _account(fields)
        assert account is not None
        found.append((depth, account))
    return found


# --- inactivity ---

# Accounts past the tenant's inactivity delays, locked; rows another replica holds are skipped, so two
# sweeps at once delete each account once. Admins are never swept: a tenant must keep its admins.
_LOCK_INACTIVE = f"""
SELECT {_A_COLUMNS}
FROM accounts a JOIN tenant_settings s USING (tenant_id)
WHERE NOT ($2 = ANY (a.roles))
  AND ((a.last_order_at IS NULL AND s.delete_without_order_days IS NOT NULL
        AND a.created_at < $1::timestamptz - make_interval(days => s.delete_without_order_days))
    OR (a.last_order_at IS NOT NULL AND s.delete_after_last_order_days IS NOT NULL
        AND a.last_order_at < $1::timestamptz - make_interval(days => s.delete_after_last_order_days)))
ORDER BY a.created_at
LIMIT $3
FOR UPDATE OF a SKIP LOCKED
"""


async def lock_inactive_accounts(conn: asyncpg.Connection, now: datetime, limit: int) -> list[Account]:
    return _accounts(await conn.fetch(_LOCK_INACTIVE, now, ADMIN, limit))


# --- activation tokens ---

_ADD_ACTIVATION_TOKEN = (
    "INSERT INTO activation_tokens (token_hash, account_id, expires_at) VALUES ($1, $2, $3)"
)
_DROP_PENDING_ACTIVATION_TOKENS = "DELETE FROM activation_tokens WHERE account_id = $1 AND used_at IS NULL"
_LOCK_ACTIVATION_TOKEN = (
    "SELECT account_id, expires_at, used_at FROM activation_tokens WHERE token_hash = $1 FOR UPDATE"
)
_ACTIVATION_TOKEN_ACCOUNT = f"""
SELECT {_A_COLUMNS}
FROM activation_tokens t JOIN accounts a USING (account_id) WHERE t.token_hash = $1
"""
_USE_ACTIVATION_TOKEN = "UPDATE activation_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL"


async def drop_pending_activations(conn: asyncpg.Connection, account_id: uuid.UUID) -> None:
    """Links not followed yet and the activation code stop working (a new activation replaces them)."""
    await conn.execute(_DROP_PENDING_ACTIVATION_TOKENS, account_id)
    await conn.execute(_DROP_CODE, account_id, "activation")


async def add_activation_token(
    conn: asyncpg.Connection, digest: bytes, account_id: uuid.UUID, expires_at: datetime
) -> None:
    await conn.execute(_ADD_ACTIVATION_TOKEN, digest, account_id, expires_at)


async def lock_activation_token(conn: asyncpg.Connection, digest: bytes) -> ActivationToken | None:
    """The token with this digest, locked so that two clicks at once activate once."""
    row = await conn.fetchrow(_LOCK_ACTIVATION_TOKEN, digest)
    return ActivationToken(**dict(row)) if row else None


async def activation_token_account(db: Db, digest: bytes) -> Account | None:
    """The account of an activation token (unlocked: to know its tenant before the real work)."""
    return _account(await db.fetchrow(_ACTIVATION_TOKEN_ACCOUNT, digest))


async def use_activation_token(conn: asyncpg.Connection, digest: bytes, at: datetime) -> None:
    await conn.execute(_USE_ACTIVATION_TOKEN, digest, at)


# --- one-time codes ---

_CODE_COLUMNS = "account_id, purpose, code_hash, channel, attempts, expires_at, used_at"
# One live code per account and purpose: a new one replaces the previous, and its attempts.
_PUT_CODE = """
INSERT INTO one_time_codes
    (account_id, purpose, code_hash, channel, attempts, expires_at, used_at, created_at)
VALUES ($1, $2, $3, $4, 0, $5, NULL, $6)
ON CONFLICT (account_id, purpose) DO UPDATE SET code_hash = excluded.code_hash, channel = excluded.channel,
    attempts = 0, expires_at = excluded.expires_at, used_at = NULL, created_at = excluded.created_at
"""
_DROP_CODE = "DELETE FROM one_time_codes WHERE account_id = $1 AND purpose = $2"
_LOCK_CODE = f"SELECT {_CODE_COLUMNS} FROM one_time_codes WHERE account_id = $1 AND purpose = $2 FOR UPDATE"
_COUNT_WRONG_CODE = "UPDATE one_time_codes SET attempts = attempts + 1 WHERE account_id = $1 AND purpose = $2"
_USE_CODE = "UPDATE one_time_codes SET used_at = $3 WHERE account_id = $1 AND purpose = $2"


async def put_code(
    conn: asyncpg.Connection,
    account_id: uuid.UUID,
    purpose: CodePurpose,
    digest: bytes,
    channel: str,
    expires_at: datetime,
    now: datetime,
) -> None:
    await conn.execute(_PUT_CODE, account_id, purpose, digest, channel, expires_at, now)


async def lock_code(
    conn: asyncpg.Connection, account_id: uuid.UUID, purpose: CodePurpose
) -> OneTimeCode | None:
    row = await conn.fetchrow(_LOCK_CODE, account_id, purpose)
    return OneTimeCode(**dict(row)) if row else None


async def count_wrong_code(conn: asyncpg.Connection, account_id: uuid.UUID, purpose: CodePurpose) -> None:
    await conn.execute(_COUNT_WRONG_CODE, account_id, purpose)


async def use_code(
    conn: asyncpg.Connection, account_id: uuid.UUID, purpose: CodePurpose, at: datetime
) -> None:
    await conn.execute(_USE_CODE, account_id, purpose, at)


# --- accounts: lookup by login, login and password ---

LoginKind = Literal["email", "registration_number", "card_number", "phone"]
"""What a typed login may be; searched in this order (the first kind that matches wins)."""
LOGIN_KINDS: tuple[LoginKind, ...] = ("email", "registration_number", "card_number", "phone")

# One indexed arm per kind, ranked, so that the planner never scans a tenant's accounts. Phone
# numbers are not unique: up to two rows tell "one account" from "several".
_ACCOUNTS_BY_LOGIN = """
SELECT 1 AS rank, account_id FROM accounts
 WHERE 'email' = ANY($3::text[]) AND tenant_id = $1 AND lower(email) = lower($2)
UNION ALL
SELECT 2, account_id FROM accounts
 WHERE 'registration_number' = ANY($3::text[]) AND tenant_id = $1 AND registration_number = $2
UNION ALL
SELECT 3, account_id FROM accounts
 WHERE 'card_number' = ANY($3::text[]) AND tenant_id = $1 AND card_number = upper($2)
UNION ALL
(SELECT 4, account_id FROM accounts
  WHERE 'phone' = ANY($3::text[]) AND tenant_id = $1 AND phone = $4 LIMIT 2)
ORDER BY rank
"""


async def account_ids_by_login(
    db: Db, tenant_id: str, login: str, phone: str, kinds: Sequence[LoginKind]
) -> list[tuple[int, uuid.UUID]]:
    """(rank, account id) of the accounts this login names, by kind: email 1, registration number 2,
    card number 3, phone 4 (compared with `phone`, the login without separators)."""
    rows = await db.fetch(_ACCOUNTS_BY_LOGIN, tenant_id, login, list(kinds), phone)
    return [(row["rank"], row["account_id"]) for row in rows]


_RECORD_LOGIN = """
WITH forgotten AS (DELETE FROM sign_in_failures WHERE account_id = $1 AND source = $2)
UPDATE accounts SET last_login_at = coalesce($3::timestamptz, last_login_at) WHERE account_id = $1
"""


async def record_login(
    conn: asyncpg.Connection, account_id: uuid.UUID, source: str, login_at: datetime | None
) -> None:
    """A right password from `source`: its failures are forgotten (other sources' stay); `login_at`
    also records a login."""
    await conn.execute(_RECORD_LOGIN, account_id, source, login_at)


# Guesses at the old password say nothing about the new one: every source's failures are forgotten.
_SET_PASSWORD = """
WITH forgotten AS (DELETE FROM sign_in_failures WHERE account_id = $1)
UPDATE accounts SET password_hash = $2, password_change_required = false, locked_at = NULL
 WHERE account_id = $1
"""
_REHASH_PASSWORD = "UPDATE accounts SET password_hash = $3 WHERE account_id = $1 AND password_hash = $2"


async def set_password(conn: asyncpg.Connection, account_id: uuid.UUID, password_hash: str) -> None:
    """A password its owner chose: no change is required any more, and any lockout is over."""
    await conn.execute(_SET_PASSWORD, account_id, password_hash)


async def rehash_password(conn: asyncpg.Connection, account_id: uuid.UUID, old: str, new: str) -> None:
    """The same password under stronger hashing parameters (only if it did not change meanwhile)."""
    await conn.execute(_REHASH_PASSWORD, account_id, old, new)


# --- one-time codes: recovery (with their sending window) ---


class RecoveryCode(OneTimeCode):
    """A stored code with its sending window: how many codes the account got lately."""

    created_at: datetime
    window_started_at: datetime
    sent_in_window: int


_RECOVERY_CODE_COLUMNS = (
    "account_id, purpose, code_hash, channel, attempts, expires_at, used_at, created_at,"
    " window_started_at, sent_in_window"
)
_LOCK_RECOVERY_CODE = (
    f"SELECT {_RECOVERY_CODE_COLUMNS} FROM one_time_codes WHERE account_id = $1 AND purpose = $2 FOR UPDATE"
)
# A new code replaces the previous one, with fresh attempts; the sending window carries over.
_PUT_RECOVERY_CODE = """
INSERT INTO one_time_codes (account_id, purpose, code_hash, channel, attempts, expires_at, used_at,
                            created_at, window_started_at, sent_in_window)
VALUES ($1, $2, $3, $4, 0, $5, NULL, $6, $7, $8)
ON CONFLICT (account_id, purpose) DO UPDATE SET
    code_hash = excluded.code_hash, channel = excluded.channel, attempts = 0,
    expires_at = excluded.expires_at, used_at = NULL, created_at = excluded.created_at,
    window_started_at = excluded.window_started_at, sent_in_window = excluded.sent_in_window
"""


async def lock_recovery_code(
    conn: asyncpg.Connection, account_id: uuid.UUID, purpose: CodePurpose
) -> RecoveryCode | None:
    row = await conn.fetchrow(_LOCK_RECOVERY_CODE, account_id, purpose)
    return RecoveryCode(**dict(row)) if row else None


async def put_recovery_code(
    conn: asyncpg.Connection,
    account_id: uuid.UUID,
    purpose: CodePurpose,
    digest: bytes,
    channel: str,
    *,
    created_at: datetime,
    expires_at: datetime,
    window_started_at: datetime,
    sent_in_window: int,
) -> None:
    await conn.execute(
        _PUT_RECOVERY_CODE,
        account_id,
        purpose,
        digest,
        channel,
        expires_at,
        created_at,
        window_started_at,
        sent_in_window,
    )
