"""A merchant signs up for a space of her own: her address is proven by a link emailed to her before
the tenant and her manager account exist. Not the platform's tenant creation (behind its key)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg
from pydantic import BaseModel, ConfigDict

from libs.common import outbox
from libs.common.errors import Conflict, Gone, Invalid, NotFound
from services.identity import commands, store
from services.identity.domain import ADMIN, Account, NewAccount, new_activation_token, token_digest
from services.identity.events import SERVICE, ActivationRequested, Locale
from services.identity.policy import Policy

SIGNUP_TTL = timedelta(hours=24)
# First path segments that are not tenants: the gateway's and the portal's own.
RESERVED_TENANT_IDS = frozenset(
    {"api", "openapi", "events", "static", "merchants", "healthz", "readyz", "metrics"}
)


class SignUp(BaseModel):
    """A merchant's sign-up as she gave it (her password already hashed)."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    name: str
    time_zone: str
    email: str
    display_name: str
    locale: Locale
    password_hash: str


class PendingSignUp(SignUp):
    signup_id: uuid.UUID
    account_id: uuid.UUID
    expires_at: datetime
    used_at: datetime | None


_COLUMNS = (
    "signup_id, tenant_id, name, time_zone, account_id, email, display_name, locale, password_hash,"
    " expires_at, used_at"
)
_ADD = f"""
INSERT INTO merchant_signups ({_COLUMNS}, token_digest, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, $12)
"""
_BY_TOKEN = f"SELECT {_COLUMNS} FROM merchant_signups WHERE token_digest = $1 FOR UPDATE"
_USE = "UPDATE merchant_signups SET used_at = $2 WHERE signup_id = $1"
_SWEEP = "DELETE FROM merchant_signups WHERE expires_at < $1 AND used_at IS NULL"


def signup_url(public_url: str, token: str) -> str:
    """The link of the email: the portal's page where she confirms (a page, not the API: mail
    scanners that open links create nothing)."""
    return f"{public_url}/merchants/sign-up/{token}"


async def start(conn: asyncpg.Connection, policy: Policy, signup: SignUp) -> PendingSignUp:
    """Keep the sign-up and email her the link; 409 when the tenant id is taken already (another
    sign-up for the same id may wait: the first confirmed gets it)."""
    if signup.tenant_id in RESERVED_TENANT_IDS:
        raise Invalid.field("tenant_id", "this name is reserved: choose another", "reserved")
    if await store.tenant_exists(conn, signup.tenant_id):
        raise _taken(signup.tenant_id)
    now = policy.clock()
    token = new_activation_token()
    pending = PendingSignUp(
        **signup.model_dump(),
        signup_id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        expires_at=now + SIGNUP_TTL,
        used_at=None,
    )
    p = pending
    await conn.execute(
        _ADD,
        p.signup_id,
        p.tenant_id,
        p.name,
        p.time_zone,
        p.account_id,
        p.email,
        p.display_name,
        p.locale,
        p.password_hash,
        p.expires_at,
        token_digest(token),
        now,
    )
    request = ActivationRequested(
        account_id=str(p.account_id),
        channel="email",
        email=p.email,
        phone=None,
        display_name=p.display_name,
        locale=p.locale,
        activation_url=signup_url(policy.public_url, token),
    )
    # Addressed to the account she will have, in the tenant she asked for.
    await outbox.publish(conn, SERVICE, request, subject=str(p.account_id), tenant_id=p.tenant_id)
    return pending


async def confirm(conn: asyncpg.Connection, policy: Policy, token: str) -> Account:
    """Create the tenant and her manager account (active at once: her address is proven)."""
    row = await conn.fetchrow(_BY_TOKEN, token_digest(token))
    if row is None:
        raise NotFound("unknown-signup", "Unknown link", "this link is not (or no longer) valid")
    pending = PendingSignUp.model_validate(dict(row))
    now = policy.clock()
    if pending.used_at is not None:
        raise Gone("signup-used", "Link used", "this space was created already: sign in")
    if now >= pending.expires_at:
        raise Gone("signup-expired", "Link expired", "the link has expired: sign up again")
    manager = NewAccount(
        account_id=pending.account_id,
        tenant_id=pending.tenant_id,
        email=pending.email,
        display_name=pending.display_name,
        locale=pending.locale,
        roles=[ADMIN],
    )
    try:
        account = await commands.create_tenant(
            conn, policy, pending.tenant_id, pending.name, pending.time_zone, manager, pending.password_hash
        )
    except Conflict:
        raise _taken(pending.tenant_id) from None
    await conn.execute(_USE, pending.signup_id, now)
    return account


async def sweep(db: store.Db, now: datetime) -> int:
    """Delete the sign-ups never confirmed once their link expired: they hold personal data."""
    return int((await db.execute(_SWEEP, now)).split()[-1])


def _taken(tenant_id: str) -> Conflict:
    return Conflict(
        "tenant-exists", "Name taken", f"a space named {tenant_id!r} exists already: choose another"
    )
