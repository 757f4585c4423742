"""Identity's use cases: bootstrap a tenant, register and activate accounts, open sessions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from libs.common import outbox
from libs.common.events import IntegrationEvent, envelope
from libs.common.http import Problem
from services.identity import store
from services.identity.domain import (
    Account,
    NewAccount,
    Organisation,
    activation_decision,
    activation_url,
    new_activation_token,
    token_digest,
)
from services.identity.events import (
    SERVICE,
    AccountActivated,
    AccountRegistered,
    ActivationRequested,
    ContactChanged,
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Policy:
    """What the use cases take from the settings, and the clock they read."""

    public_url: str
    activation_ttl: timedelta
    access_token_ttl: timedelta
    platform_key: str
    activation_code_ttl: timedelta = timedelta(minutes=30)
    refresh_token_ttl: timedelta = timedelta(days=30)
    recovery_code_ttl: timedelta = timedelta(minutes=15)
    code_attempts: int = 5
    key_rotation: timedelta = timedelta(days=30)
    clock: Callable[[], datetime] = field(default=_utc_now)


def invalid_field(name: str, message: str, kind: str) -> Problem:
    """A 422 naming one field, shaped like the problems of `read_json`."""
    return Problem(422, "Invalid request body", errors=[{"field": name, "message": message, "type": kind}])


async def _publish(conn: asyncpg.Connection, account: Account, event: IntegrationEvent) -> None:
    await outbox.append(
        conn,
        event.topic,
        envelope(SERVICE, event, subject=str(account.account_id), tenant_id=account.tenant_id),
    )


async def _announce_account(conn: asyncpg.Connection, account: Account) -> None:
    """The public account event and the internal contact event every new account causes."""
    account_id = str(account.account_id)
    organisation_id = str(account.organisation_id) if account.organisation_id else None
    await _publish(
        conn,
        account,
        AccountRegistered(
            account_id=account_id,
            roles=account.roles,
            organisation_id=organisation_id,
            registered_at=account.created_at,
        ),
    )
    await _publish(
        conn,
        account,
        ContactChanged(
            account_id=account_id,
            email=account.email,
            display_name=account.display_name,
            locale=account.locale,
        ),
    )


async def create_tenant(
    conn: asyncpg.Connection, policy: Policy, tenant_id: str, name: str, admin: NewAccount, password_hash: str
) -> Account:
    """Create a tenant and its first admin, active at once: nobody could approve an activation yet."""
    if not await store.add_tenant(conn, tenant_id, name):
        raise Problem(
            409, "Tenant already exists", type="tenant-exists", detail=f"tenant {tenant_id!r} exists"
        )
    now = policy.clock()
    account = await store.add_account(conn, admin, password_hash, created_at=now, activated_at=now)
    assert account is not None, "a new tenant has no accounts"
    await _announce_account(conn, account)
    await _publish(conn, account, AccountActivated(account_id=str(account.account_id), activated_at=now))
    return account


async def register_account(
    conn: asyncpg.Connection, policy: Policy, new: NewAccount, password_hash: str
) -> Account:
    """Create a pending account and ask notify to send its activation link (one transaction)."""
    if not await store.tenant_exists(conn, new.tenant_id):
        raise invalid_field("tenant_id", "no such tenant", "unknown_tenant")
    if new.organisation_id is not None and not await store.organisation_exists(
        conn, new.tenant_id, new.organisation_id
    ):
        raise invalid_field("organisation_id", "no such organisation in this tenant", "unknown_organisation")
    now = policy.clock()
    account = await store.add_account(conn, new, password_hash, created_at=now)
    if account is None:
        raise Problem(
            409,
            "Email already registered",
            type="email-taken",
            detail="an account of this tenant already uses this email",
        )
    token = new_activation_token()
    await store.add_activation_token(
        conn, token_digest(token), account.account_id, now + policy.activation_ttl
    )
    await _announce_account(conn, account)
    # The token travels only here, on notify's internal topic: never on a public one.
    await _publish(
        conn,
        account,
        ActivationRequested(
            account_id=str(account.account_id),
            email=account.email,
            display_name=account.display_name,
            locale=account.locale,
            activation_url=activation_url(policy.public_url, token),
        ),
    )
    return account


async def activate_account(pool: asyncpg.Pool, policy: Policy, token: str) -> uuid.UUID:
    """Activate the account of an activation token; return its id. Presenting it again is harmless."""
    digest = token_digest(token)
    async with pool.acquire() as conn, conn.transaction():
        found = await store.lock_activation_token(conn, digest)
        account = await store.lock_account(conn, found.account_id) if found else None
        if found is None or account is None:
            raise Problem(404, "Unknown activation link", type="activation-not-found")
        now = policy.clock()
        decision = activation_decision(found, account.status, now)
        if decision == "expired":
            raise Problem(
                410,
                "Activation link expired",
                type="activation-expired",
                detail="this link is no longer valid: ask for a new one",
            )
        if decision == "used":
            raise Problem(410, "Activation link already used", type="activation-used")
        if decision == "activate":
            await store.activate_account(conn, account.account_id, now)
            await _publish(
                conn, account, AccountActivated(account_id=str(account.account_id), activated_at=now)
            )
        await store.use_activation_token(conn, digest, now)
    return account.account_id


async def create_organisation(
    conn: asyncpg.Connection, tenant_id: str, name: str, customer_code: str
) -> Organisation:
    organisation = await store.add_organisation(conn, tenant_id, name, customer_code)
    if organisation is None:
        raise Problem(
            409,
            "Customer code already used",
            type="customer-code-taken",
            detail=f"another organisation of this tenant has customer code {customer_code!r}",
        )
    return organisation
