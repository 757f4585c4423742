"""Identity's use cases: tenants and their settings, organisations, opening, activating, editing and
deleting accounts, and the sweep of inactive accounts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import asyncpg

from libs.common import erasure, outbox
from libs.common.auth import Principal
from libs.common.errors import Conflict, FieldError, Gone, Invalid, NotFound
from libs.common.events import IntegrationEvent
from services.identity import passwords, session_store, store
from services.identity.domain import (
    ADMIN,
    SHOP,
    Account,
    NewAccount,
    Organisation,
    OrganisationDetails,
    TenantSettings,
    activation_decision,
    activation_url,
    birth_date_problem,
    code_decision,
    code_digest,
    new_activation_token,
    new_card_number,
    new_code,
    new_customer_code,
    password_problems,
    personal_data,
    roles_problem,
    token_digest,
)
from services.identity.events import (
    SERVICE,
    AccountActivated,
    AccountDeleted,
    AccountFactsChanged,
    AccountMembershipChanged,
    AccountRegistered,
    ActivationCodeRequested,
    ActivationRequested,
    Channel,
    ContactChanged,
    OrganisationCreated,
    OrganisationUpdated,
    RevocationReason,
    SessionsRevoked,
    TenantSettingsChanged,
)
from services.identity.policy import Delivery, Policy


@dataclass(frozen=True)
class PasswordFieldError(FieldError):
    """A password the tenant's policy refuses; `lacks` lists what it needs (machine-readable)."""

    lacks: list[str] = field(default_factory=list)


def check_password(settings: TenantSettings, password: str) -> None:
    """Refuse a password the tenant's policy does not accept, listing what it lacks (field
    `password`: a route whose body names it otherwise relabels it)."""
    problems = password_problems(settings, password)
    if problems:
        needs = "the password needs " + ", ".join(problems)
        raise Invalid(
            [PasswordFieldError("password", needs, "password_policy", problems)],
            kind="password-policy",
            title="Password too weak",
            detail=needs,
        )


async def settings_of(db: store.Db, tenant_id: str) -> TenantSettings:
    """The tenant's settings; an unknown tenant is a wrong `tenant_id`."""
    settings = await store.tenant_settings(db, tenant_id)
    if settings is None:
        raise Invalid.field("tenant_id", "no such tenant", "unknown_tenant")
    return settings


async def hash_chosen_password(settings: TenantSettings, password: str) -> str:
    """The hash of a password someone chose, once the tenant's policy accepts it."""
    check_password(settings, password)
    return await passwords.hash_password(password)


def _taken(exc: store.Taken) -> Conflict:
    what = {
        "email": (
            "Email already registered",
            "email-taken",
            "an account of this tenant already uses this email",
        ),
        "card_number": (
            "Card number already registered",
            "card-number-taken",
            "an account of this tenant already has this card number",
        ),
        "customer_code": (
            "Customer code already used",
            "customer-code-taken",
            "another organisation of this tenant has this customer code",
        ),
    }
    title, kind, detail = what.get(exc.field, ("Already used", "conflict", f"{exc.field} is already used"))
    return Conflict(kind, title, detail)


async def _publish(conn: asyncpg.Connection, account: Account, event: IntegrationEvent) -> None:
    """An event about an account: its subject (and Kafka key) is the account."""
    await outbox.publish(conn, SERVICE, event, subject=str(account.account_id), tenant_id=account.tenant_id)


async def announce_ended_sessions(
    conn: asyncpg.Connection,
    policy: Policy,
    account: Account,
    session_ids: Sequence[uuid.UUID],
    reason: RevocationReason,
) -> None:
    """Tell every token verifier that these sessions ended, so that their access tokens stop working
    now rather than when they expire (nothing when there are none)."""
    if not session_ids:
        return
    now = policy.clock()
    ended = SessionsRevoked.of(
        account, session_ids, reason, now, tokens_expire_by=now + policy.access_token_ttl
    )
    await _publish(conn, account, ended)


async def end_sessions(
    conn: asyncpg.Connection,
    policy: Policy,
    account: Account,
    reason: RevocationReason,
    *,
    keep: uuid.UUID | None = None,
) -> int:
    """End every session of a (locked) account but `keep`, announced; returns how many refresh
    token families were revoked."""
    now = policy.clock()
    live = await session_store.live_sessions(conn, account.account_id, now - policy.access_token_ttl, keep)
    revoked = await session_store.revoke_account_families(conn, account.account_id, now, keep)
    await announce_ended_sessions(conn, policy, account, live, reason)
    return revoked


async def _announce_account(conn: asyncpg.Connection, account: Account) -> None:
    """The public account event, and the internal contact and facts events, of a new account."""
    await _publish(conn, account, AccountRegistered.of(account))
    await _publish(conn, account, ContactChanged.of(account))
    await _publish(conn, account, AccountFactsChanged.of(account, account.created_at))


# --- tenants and organisations ---


async def create_tenant(
    conn: asyncpg.Connection,
    policy: Policy,
    tenant_id: str,
    name: str,
    time_zone: str,
    admin: NewAccount,
    password_hash: str,
) -> Account:
    """Create a tenant, its default settings in its time zone and its first admin, active at once:
    nobody could approve an activation yet."""
    if not await store.add_tenant(conn, tenant_id, name, time_zone):
        raise Conflict("tenant-exists", "Tenant already exists", f"tenant {tenant_id!r} exists")
    now = policy.clock()
    await _publish_tenant_settings(conn, tenant_id, time_zone, now)
    account = await store.add_account(conn, admin, password_hash, created_at=now, activated_at=now)
    await _announce_account(conn, account)
    await _publish(conn, account, AccountActivated.of(account, now))
    return account


async def replace_tenant_settings(
    conn: asyncpg.Connection, tenant_id: str, settings: TenantSettings, now: datetime
) -> TenantSettings:
    """Replace every setting of the tenant, and announce what the other services need of them."""
    stored = await store.replace_tenant_settings(conn, tenant_id, settings)
    await _publish_tenant_settings(conn, tenant_id, stored.time_zone, now)
    return stored


async def _publish_tenant_settings(
    conn: asyncpg.Connection, tenant_id: str, time_zone: str, at: datetime
) -> None:
    event = TenantSettingsChanged(time_zone=time_zone, changed_at=at)
    await outbox.publish(conn, SERVICE, event, subject=tenant_id, tenant_id=tenant_id)


async def _publish_organisation(
    conn: asyncpg.Connection, organisation: Organisation, event: IntegrationEvent
) -> None:
    subject = str(organisation.organisation_id)
    await outbox.publish(conn, SERVICE, event, subject=subject, tenant_id=organisation.tenant_id)


async def create_organisation(
    conn: asyncpg.Connection,
    tenant_id: str,
    name: str,
    customer_code: str | None,
    details: OrganisationDetails,
) -> Organisation:
    """Add an organisation to the tenant and announce it (without its customer code: a secret). An
    organisation created without a code (a shop) gets a generated one."""
    customer_code = customer_code or new_customer_code()
    organisation = await store.add_organisation(conn, tenant_id, name, customer_code, details)
    if organisation is None:
        raise Conflict(
            "customer-code-taken",
            "Customer code already used",
            f"another organisation of this tenant has customer code {customer_code!r}",
        )
    await _publish_organisation(conn, organisation, OrganisationCreated.of(organisation))
    return organisation


async def update_organisation(
    conn: asyncpg.Connection, policy: Policy, organisation_id: uuid.UUID, changes: Mapping[str, Any]
) -> Organisation:
    """Change an organisation's name, customer code or details (its kind never changes); a new name
    is announced, a new code not (it is a secret, and the public event would only say that it
    changed), nor the details (the other services do not keep them)."""
    current = await store.lock_organisation(conn, organisation_id)
    if current is None:
        raise NotFound("not-found", "Not found", "no such resource here")
    try:
        updated = await store.update_organisation(conn, current.model_copy(update=changes))
    except store.Taken as exc:
        raise _taken(exc) from None
    if updated.name != current.name:
        await _publish_organisation(conn, updated, OrganisationUpdated.of(updated, policy.clock()))
    return updated


async def membership_organisation(
    db: store.Db,
    tenant_id: str,
    organisation_id: uuid.UUID | None,
    customer_code: str | None = None,
) -> uuid.UUID | None:
    """The organisation an account joins, named by its id or its customer code (both must agree)."""
    if customer_code is not None:
        found = await store.organisation_by_code(db, tenant_id, customer_code)
        if found is None:
            raise Invalid.field(
                "customer_code",
                "no organisation of this tenant has this customer code",
                "unknown_customer_code",
            )
        if organisation_id is not None and organisation_id != found.organisation_id:
            raise Invalid.field("organisation_id", "not the organisation of this customer code", "mismatch")
        return found.organisation_id
    if organisation_id is not None and not await store.organisation_exists(db, tenant_id, organisation_id):
        raise Invalid.field("organisation_id", "no such organisation in this tenant", "unknown_organisation")
    return organisation_id


async def registering_shop(db: store.Db, caller: Principal, shop_id: uuid.UUID | None) -> uuid.UUID | None:
    """The shop where a customer is registered: the caller's own shop for its staff (who cannot name
    another), the one an admin names (a shop of the tenant), or none."""
    if caller.has_role(SHOP) and not caller.has_role(ADMIN):
        own = uuid.UUID(caller.organisation_id) if caller.organisation_id else None
        if shop_id is not None and shop_id != own:
            raise Invalid.field("shop_id", "staff register customers at their own shop", "not_your_shop")
        shop_id = own
    if shop_id is None:
        return None
    found = await store.organisation(db, shop_id)
    if found is None or found.tenant_id != caller.tenant_id or found.kind != "shop":
        if caller.has_role(ADMIN):
            raise Invalid.field("shop_id", "no such shop in this tenant", "unknown_shop")
        return None  # staff of an organisation that is not a shop: registered at no shop
    return shop_id


# --- opening accounts ---


def check_new_account(policy: Policy, new: NewAccount, delivery: Delivery | None) -> None:
    """What the request's models cannot check alone: plausible age, roles, a phone for SMS."""
    if new.birth_date is not None and (problem := birth_date_problem(new.birth_date, policy.clock().date())):
        raise Invalid.field("birth_date", problem, "implausible_birth_date")
    if problem := roles_problem(new.roles, new.organisation_id):
        raise Invalid.field("roles", problem, "invalid_roles")
    if delivery is not None and delivery.channel == "sms" and new.phone is None:
        raise Invalid.field("phone", "a mobile number is needed to send the activation by SMS", "missing")


async def open_account(
    conn: asyncpg.Connection,
    policy: Policy,
    new: NewAccount,
    *,
    password_hash: str | None,
    activation: Delivery | None,
    generate_card: bool = False,
) -> Account:
    """Create an account in one transaction with its events.

    With `activation`, it stays pending and its activation link or code is sent; without, it is
    active at once (a password someone set for its owner, who got it in person). With
    `generate_card`, it gets a new loyalty card number.
    """
    check_new_account(policy, new, activation)
    if not await store.tenant_exists(conn, new.tenant_id):
        raise Invalid.field("tenant_id", "no such tenant", "unknown_tenant")
    now = policy.clock()
    activated_at = None if activation is not None else now
    try:
        account = await _add_account(conn, new, password_hash, now, activated_at, generate_card)
    except store.Taken as exc:
        raise _taken(exc) from None
    await _announce_account(conn, account)
    if activation is None:
        await _publish(conn, account, AccountActivated.of(account, now))
    else:
        await send_activation(conn, policy, account, activation)
    return account


async def _add_account(
    conn: asyncpg.Connection,
    new: NewAccount,
    password_hash: str | None,
    now: datetime,
    activated_at: datetime | None,
    generate_card: bool,
) -> Account:
    if not generate_card:
        return await store.add_account(conn, new, password_hash, created_at=now, activated_at=activated_at)
    # 10^15 numbers: a collision is unlikely, but must not fail the registration.
    for _ in range(5):
        card = new_card_number()
        try:
            return await store.add_account(
                conn,
                new.model_copy(update={"card_number": card}),
                password_hash,
                created_at=now,
                activated_at=activated_at,
            )
        except store.Taken as exc:
            if exc.field != "card_number":
                raise
    raise RuntimeError("no free card number after 5 tries")


async def send_activation(
    conn: asyncpg.Connection, policy: Policy, account: Account, delivery: Delivery
) -> None:
    """Send a new activation link or code: the links and code sent before stop working. The secret
    travels only on notify's internal topic; an SMS to an account without a phone goes by email."""
    now = policy.clock()
    channel: Channel = "sms" if delivery.channel == "sms" and account.phone else "email"
    await store.drop_pending_activations(conn, account.account_id)
    if delivery.method == "link":
        token = new_activation_token()
        await store.add_activation_token(
            conn, token_digest(token), account.account_id, now + policy.activation_ttl
        )
        event: IntegrationEvent = ActivationRequested.of(
            account, channel, activation_url(policy.public_url, account.tenant_id, token)
        )
    else:
        code = new_code()
        expires_at = now + policy.activation_code_ttl
        await store.put_code(
            conn,
            account.account_id,
            "activation",
            code_digest(account.account_id, "activation", code),
            channel,
            expires_at,
            now,
        )
        event = ActivationCodeRequested.of(account, channel, code, expires_at)
    await store.mark_activation_sent(conn, account.account_id, now)
    await _publish(conn, account, event)


async def resend_activation(
    pool: asyncpg.Pool, policy: Policy, tenant_id: str, login: str, delivery: Delivery
) -> None:
    """Send a new activation link or code to a pending account, unless one went out less than the
    resend interval ago. Says nothing either way: whether an account exists must not leak here."""
    found = await store.account_by_identifier(pool, tenant_id, login)
    if found is None or found.status != "pending":
        return
    async with pool.acquire() as conn, conn.transaction():
        account = await store.lock_account(conn, found.account_id)
        if account is None or account.status != "pending":
            return
        sent_at = await store.activation_sent_at(conn, account.account_id)
        if sent_at is not None and policy.clock() - sent_at < policy.activation_resend_interval:
            return
        await send_activation(conn, policy, account, delivery)


# --- activation ---


def _password_required() -> Conflict:
    return Conflict(
        "password-required",
        "Password required",
        "this account has no password yet: activate it by sending the token (or code) with the"
        " password you choose",
    )


def _already_active() -> Conflict:
    return Conflict(
        "already-active",
        "Account already active",
        "this account is active: its password is changed from the profile or by recovery",
    )


async def _hash_for(db: store.Db, account: Account | None, password: str | None) -> str | None:
    """The hash of the password given at activation, checked against the account's tenant policy."""
    if password is None or account is None:
        return None
    return await hash_chosen_password(await settings_of(db, account.tenant_id), password)


async def activate_with_token(
    pool: asyncpg.Pool, policy: Policy, token: str, password: str | None
) -> Account:
    """Activate the account of an activation token, with the password its owner chooses (needed when
    it has none). Presenting the token again without a password is harmless."""
    digest = token_digest(token)
    # The password is checked and hashed before the transaction: hashing holds no row lock.
    password_hash = None
    if password is not None:
        password_hash = await _hash_for(pool, await store.activation_token_account(pool, digest), password)
    async with pool.acquire() as conn, conn.transaction():
        found = await store.lock_activation_token(conn, digest)
        account = await store.lock_account(conn, found.account_id) if found else None
        if found is None or account is None:
            raise NotFound("activation-not-found", "Unknown activation link")
        now = policy.clock()
        decision = activation_decision(found, account.status, now)
        if decision == "expired":
            raise Gone(
                "activation-expired",
                "Activation link expired",
                "this link is no longer valid: ask for a new one",
            )
        if decision == "used":
            raise Gone("activation-used", "Activation link already used")
        if decision == "already-active":
            if password is not None:
                raise _already_active()
            return account
        if account.password_hash is None and password_hash is None:
            raise _password_required()
        await _activate(conn, account, now, password_hash)
        await store.use_activation_token(conn, digest, now)
    return account


async def _activate(
    conn: asyncpg.Connection, account: Account, now: datetime, password_hash: str | None
) -> None:
    await store.activate_account(conn, account.account_id, now, password_hash)
    await _publish(conn, account, AccountActivated.of(account, now))


def _invalid_code() -> Invalid:
    return Invalid(
        [FieldError("code", "wrong code", "invalid_code")],
        kind="invalid-code",
        title="Invalid code",
        detail="this code does not activate this account",
    )


async def activate_with_code(
    pool: asyncpg.Pool,
    policy: Policy,
    tenant_id: str,
    account_id: uuid.UUID | None,
    login: str | None,
    code: str,
    password: str | None,
) -> Account:
    """Activate an account with the numeric code it was sent. An unknown account, one without a code
    and a wrong code get one answer; a wrong code counts against the code's attempts."""
    if account_id is not None:
        found = await store.account(pool, tenant_id, account_id)
    else:
        found = await store.account_by_identifier(pool, tenant_id, login or "")
    if found is None:
        raise _invalid_code()
    password_hash = await _hash_for(pool, found, password)
    async with pool.acquire() as conn, conn.transaction():
        account = await store.lock_account(conn, found.account_id)
        stored = await store.lock_code(conn, found.account_id, "activation")
        if account is None or stored is None:
            raise _invalid_code()
        now = policy.clock()
        decision = code_decision(stored, code, now, policy.code_attempts)
        if decision == "wrong":
            await store.count_wrong_code(conn, account.account_id, "activation")
        elif decision == "accept":
            if account.status == "active":
                if password is not None:
                    raise _already_active()
            elif account.password_hash is None and password_hash is None:
                raise _password_required()
            else:
                await _activate(conn, account, now, password_hash)
            await store.use_code(conn, account.account_id, "activation", now)
            return account
    # Outside the transaction: a wrong guess must be counted even though the request fails.
    if decision == "expired":
        raise Gone("code-expired", "Code expired", "this code is no longer valid: ask for a new one")
    if decision == "exhausted":
        raise Gone(
            "code-exhausted",
            "Too many wrong codes",
            "this code was mistyped too many times and no longer works: ask for a new one",
        )
    raise _invalid_code()


# --- profile and membership ---


async def update_profile(
    conn: asyncpg.Connection, policy: Policy, account_id: uuid.UUID, changes: dict[str, object]
) -> Account:
    """Apply the owner's changes to her details; a change of how to reach her is announced."""
    current = await store.lock_account(conn, account_id)
    if current is None:
        raise NotFound("account-not-found", "No such account", "the account no longer exists")
    wanted = current.model_copy(update=changes)
    if wanted.birth_date is not None and (
        problem := birth_date_problem(wanted.birth_date, policy.clock().date())
    ):
        raise Invalid.field("birth_date", problem, "implausible_birth_date")
    try:
        updated = await store.update_profile(conn, wanted)
    except store.Taken as exc:
        raise _taken(exc) from None
    contact = ("email", "phone", "display_name", "locale", "address")
    if any(getattr(current, name) != getattr(updated, name) for name in contact):
        await _publish(conn, updated, ContactChanged.of(updated))
    return updated


def _last_admin() -> Conflict:
    return Conflict(
        "last-admin",
        "Last admin",
        "this is the tenant's last admin: make another account admin first",
    )


async def change_membership(
    conn: asyncpg.Connection,
    policy: Policy,
    account: Account,
    roles: Sequence[str] | None,
    organisation_id: uuid.UUID | None,
    organisation_given: bool,
    professional: bool | None = None,
) -> Account:
    """An admin changes an account's roles, organisation or professional flag; the tenant always
    keeps an admin. A change of roles or of the flag is announced with the account's facts."""
    await store.lock_tenant(conn, account.tenant_id)
    current = await store.lock_account(conn, account.account_id)
    if current is None:
        raise NotFound("not-found", "Not found", "no such resource here")
    new_roles = list(roles) if roles is not None else current.roles
    new_organisation = (
        await membership_organisation(conn, current.tenant_id, organisation_id)
        if organisation_given
        else current.organisation_id
    )
    if problem := roles_problem(new_roles, new_organisation):
        raise Invalid.field("roles", problem, "invalid_roles")
    if (
        ADMIN in current.roles
        and ADMIN not in new_roles
        and not await store.other_admins(conn, current.tenant_id, current.account_id)
    ):
        raise _last_admin()
    new_professional = current.professional if professional is None else professional
    if (new_roles, new_organisation, new_professional) == (
        current.roles,
        current.organisation_id,
        current.professional,
    ):
        return current
    updated = await store.set_membership(
        conn, current.account_id, new_roles, new_organisation, new_professional
    )
    now = policy.clock()
    if (new_roles, new_organisation) != (current.roles, current.organisation_id):
        await _publish(conn, updated, AccountMembershipChanged.of(updated, now))
    if (new_roles, new_professional) != (current.roles, current.professional):
        await _publish(conn, updated, AccountFactsChanged.of(updated, now))
    return updated


# --- deletion ---


async def delete_account(
    conn: asyncpg.Connection, policy: Policy, account: Account, reason: Literal["closed", "inactive"]
) -> None:
    """Delete a (locked) account and every personal value identity holds of it, in the caller's
    transaction: the row (its codes, tokens and sessions go with it; recruits lose their sponsor),
    then the events, dead letters and remembered responses that carried its values. Then announce it,
    so that every other service erases what it holds and refuses its access tokens."""
    live = await session_store.live_sessions(
        conn, account.account_id, policy.clock() - policy.access_token_ttl
    )
    await store.delete_account(conn, account.account_id)
    identifiers, details = personal_data(account)
    await erasure.scrub(conn, str(account.account_id), identifiers, details)
    await _publish(conn, account, AccountDeleted.of(account, reason, policy.clock()))
    await announce_ended_sessions(conn, policy, account, live, "account_deleted")


async def close_account(conn: asyncpg.Connection, policy: Policy, account_id: uuid.UUID) -> None:
    """Close an account (by its owner or an admin): a tenant's last admin cannot go."""
    found = await store.account_anywhere(conn, account_id)
    # The tenant first, then the account: the order `change_membership` locks them in.
    if found is not None:
        await store.lock_tenant(conn, found.tenant_id)
    account = await store.lock_account(conn, account_id)
    if account is None:
        raise NotFound("account-not-found", "No such account", "the account no longer exists")
    if ADMIN in account.roles and not await store.other_admins(conn, account.tenant_id, account.account_id):
        raise _last_admin()
    await delete_account(conn, policy, account, "closed")


async def sweep_inactive_accounts(pool: asyncpg.Pool, policy: Policy) -> int:
    """Delete the accounts past their tenant's inactivity delays, a batch per transaction; return
    how many went. Safe with several replicas: each locks its batch and skips what another holds."""
    deleted = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            batch = await store.lock_inactive_accounts(conn, policy.clock(), policy.inactivity_batch)
            for account in batch:
                await delete_account(conn, policy, account, "inactive")
        deleted += len(batch)
        if len(batch) < policy.inactivity_batch:
            return deleted
