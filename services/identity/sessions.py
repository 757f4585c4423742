"""Identity's credential use cases: log in (lockout, forced password change), refresh and log out,
change a password, recover an account with a code sent by SMS or email, unlock an account.

Failed logins are counted per source (the client's address, see `limits.source_of`): failures from
one source lock the account for that source only, so a stranger cannot lock its owner out. Failures
from every source together add a delay, capped, to every login on the account: guessing from many
addresses gets slower, and the owner still gets in.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import asyncpg
import structlog

from libs.common import outbox
from libs.common.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    Locked,
    NotFound,
    Rejected,
    Unauthenticated,
)
from services.identity import passwords, session_store, signing, store
from services.identity.commands import announce_ended_sessions, end_sessions
from services.identity.domain import (
    Account,
    TenantSettings,
    access_claims,
    code_decision,
    code_digest,
    new_code,
    normalise_phone,
    password_problems,
)
from services.identity.events import SERVICE, Channel, RecoveryCodeRequested
from services.identity.policy import Policy
from services.identity.store import LoginKind, RecoveryCode

log = structlog.get_logger(__name__)

SECRET_BYTES = 32  # refresh tokens and change tickets: 256 bits
CHANGE_TICKET_TTL = timedelta(minutes=10)
RECOVERY_MIN_INTERVAL = timedelta(minutes=1)  # between two codes sent to one account
RECOVERY_WINDOW = timedelta(hours=1)
RECOVERY_MAX_PER_WINDOW = 5
SIGN_IN_DELAY_STEP_S = 0.25  # the first delay failures from many sources add to an account's logins
RECOVERY_ANSWER_SECONDS = 0.25  # every recovery request is answered after this long, whatever it did

RecoveryChannel = Literal["email", "sms", "both"]


@dataclass(frozen=True)
class Session:
    """What a login or a refresh hands out."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_at: datetime
    family_id: uuid.UUID


class PasswordChangeRequired(Exception):
    """The password was right, but its owner must choose a new one before getting a session."""

    def __init__(self, change_token: str, expires_in: timedelta) -> None:
        super().__init__("password change required")
        self.change_token = change_token
        self.expires_in = int(expires_in.total_seconds())


@dataclass(frozen=True)
class Lockout:
    """A lock in force: until when, or (None) until an administrator unlocks the account."""

    until: datetime | None


# --- pure rules ---


def current_lockout(locked_at: datetime | None, settings: TenantSettings, now: datetime) -> Lockout | None:
    if locked_at is None:
        return None
    if settings.lockout_minutes is None:
        return Lockout(None)
    until = locked_at + timedelta(minutes=settings.lockout_minutes)
    return Lockout(until) if now < until else None


def sign_in_delay(recent_failures: int, threshold: int, cap: timedelta) -> float:
    """Seconds a login on an account waits, given its recent failures from every source: none below
    the lockout threshold, then a quarter second doubling with each further failure, up to `cap`."""
    beyond = recent_failures - threshold
    if beyond < 0:
        return 0.0
    return min(cap.total_seconds(), SIGN_IN_DELAY_STEP_S * 2.0 ** min(beyond, 16))


def expired_locks_before(settings: TenantSettings, now: datetime) -> datetime | None:
    """Locks taken at or before this moment are over (None: locks never end by themselves)."""
    return None if settings.lockout_minutes is None else now - timedelta(minutes=settings.lockout_minutes)


def phone_form(login: str) -> str:
    """A typed phone number as stored (E.164), or the login as typed when it cannot be one."""
    try:
        return normalise_phone(login)
    except ValueError:
        return login


def recovery_kinds(settings: TenantSettings) -> list[LoginKind]:
    """What recovery accepts as the login: the tenant's login identifiers, the email and the phone
    (people are asked for "your email or phone number"), where the code is sent anyway."""
    return list(dict.fromkeys(["email", *settings.login_identifiers, "phone"]))


def recovery_window(previous: RecoveryCode | None, now: datetime) -> tuple[datetime, int] | None:
    """(window start, codes sent in it) after sending one more code; None when the account got
    enough for now: one per `RECOVERY_MIN_INTERVAL`, `RECOVERY_MAX_PER_WINDOW` per `RECOVERY_WINDOW`."""
    if previous is not None and now - previous.created_at < RECOVERY_MIN_INTERVAL:
        return None
    if previous is None or now - previous.window_started_at >= RECOVERY_WINDOW:
        return now, 1
    if previous.sent_in_window >= RECOVERY_MAX_PER_WINDOW:
        return None
    return previous.window_started_at, previous.sent_in_window + 1


def recovery_channels(asked: RecoveryChannel, email: str | None, phone: str | None) -> list[Channel]:
    """Where to send a code: the channels asked that reach the person, else any that does (it is
    their own address or phone either way)."""
    addresses: tuple[tuple[Channel, str | None], ...] = (("email", email), ("sms", phone))
    reachable = [channel for channel, to in addresses if to]
    wanted = [c for c in reachable if asked in (c, "both")]
    return wanted or reachable


def secret_digest(secret: str) -> bytes:
    """What is kept of a refresh token or a change ticket: a leaked table opens no session."""
    return hashlib.sha256(secret.encode()).digest()


# --- problems ---


def _invalid_credentials() -> Unauthenticated:
    # One answer for an unknown login and a wrong password: which of the two it was must not leak.
    return Unauthenticated("invalid-credentials", "Invalid credentials", "the login or the password is wrong")


def _locked(lock: Lockout, now: datetime) -> Locked:
    how = "use a recovery code to choose a new password, which unlocks it"
    if lock.until is None:
        return Locked(
            "account-locked",
            "Account locked",
            f"too many failed logins: this account is locked until an administrator unlocks it, or {how}",
        )
    until = lock.until.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Locked(
        "account-locked",
        "Account locked",
        f"too many failed logins: this account is locked until {until} (UTC), or {how}",
        retry_after=lock.until - now,
    )


def _session_ended() -> Unauthenticated:
    return Unauthenticated("session-ended", "Session ended", "this refresh token no longer works: log in")


def _invalid_ticket() -> Unauthenticated:
    return Unauthenticated(
        "change-token-invalid",
        "Invalid change token",
        "this password-change token is unknown, used or expired: log in again",
    )


def _invalid_code() -> Rejected:
    # The same answer whatever went wrong, and for an unknown login: nobody learns who has an account.
    return Rejected(
        "recovery-code-invalid",
        "Invalid recovery code",
        "this code is wrong, expired or already used, or too many wrong codes were typed: ask for a new one",
    )


def _no_account() -> NotFound:
    return NotFound("account-not-found", "No such account", "the account no longer exists")


def _check_password(settings: TenantSettings, password: str, field: str) -> None:
    problems = password_problems(settings, password)
    if problems:
        raise Invalid.field(field, "the password needs " + ", ".join(problems), "password_policy")


def _must_differ(field: str) -> Invalid:
    return Invalid.field(field, "the new password must differ from the current one", "password_unchanged")


# --- shared steps ---


async def _settings(db: store.Db, tenant_id: str) -> TenantSettings:
    return await store.tenant_settings(db, tenant_id) or TenantSettings()


async def _find_account(
    db: store.Db, tenant_id: str, login: str, kinds: Sequence[LoginKind]
) -> Account | None:
    """The one account a typed login names (email, then registration number, card number, phone)."""
    login = login.strip()
    if not login or not kinds:
        return None
    found = await store.account_ids_by_login(db, tenant_id, login, phone_form(login), kinds)
    best = [account_id for rank, account_id in found if rank == found[0][0]]
    # Several accounts share a phone number: it names none of them.
    if len(best) != 1:
        return None
    return await store.account(db, tenant_id, best[0])


async def _source_lock(
    db: store.Db, policy: Policy, account: Account, source: str, settings: TenantSettings, now: datetime
) -> tuple[Lockout | None, int]:
    """The lock of `source` on the account if one is in force, and the account's recent failures."""
    failures = await session_store.sign_in_failures(
        db, account.account_id, source, now - policy.sign_in_failure_window
    )
    return current_lockout(failures.locked_at, settings, now), failures.recent_failures


async def _count_failure(
    db: asyncpg.Pool, policy: Policy, account: Account, source: str, settings: TenantSettings, now: datetime
) -> None:
    """Count a wrong password from `source`; raise the lock's problem when that source is (now) locked."""
    counted = await session_store.record_sign_in_failure(
        db,
        account.account_id,
        source,
        now,
        settings.lockout_threshold,
        now - policy.sign_in_failure_window,
        expired_locks_before(settings, now),
    )
    if counted is not None:
        lock = current_lockout(counted.locked_at, settings, now)
    else:  # locked by a parallel failure since we read it
        lock, _ = await _source_lock(db, policy, account, source, settings, now)
    if lock is not None:
        raise _locked(lock, now)


async def _open(
    conn: asyncpg.Connection,
    policy: Policy,
    key: signing.SigningKey,
    account: Account,
    now: datetime,
    *,
    family_id: uuid.UUID | None = None,
    expires_at: datetime | None = None,
) -> Session:
    """An access token and a new refresh token: of a new family (a login), or the next one of a
    family (a refresh), which ends when the family does: the refresh token TTL counts from the login."""
    if family_id is None:
        await session_store.prune_expired_refresh_tokens(
            conn, account.account_id, now - policy.access_token_ttl
        )
    family_id = family_id or uuid.uuid4()
    expires_at = expires_at or now + policy.refresh_token_ttl
    refresh_token = secrets.token_urlsafe(SECRET_BYTES)
    await session_store.add_refresh_token(
        conn, secret_digest(refresh_token), family_id, account.account_id, now, expires_at
    )
    # `sid` names the session (the refresh family), so that "log out my other sessions" knows this one.
    claims = access_claims(account, now, policy.access_token_ttl) | {"sid": str(family_id)}
    return Session(
        access_token=key.sign(claims),
        expires_in=int(policy.access_token_ttl.total_seconds()),
        refresh_token=refresh_token,
        refresh_expires_at=expires_at,
        family_id=family_id,
    )


# --- log in ---


async def open_session(
    pool: asyncpg.Pool,
    policy: Policy,
    tenant_id: str,
    login: str,
    password: str,
    source: str,
    *,
    email_only: bool = False,
) -> Session:
    """A session for the account these credentials prove, typed at `source`.

    An unknown login and a wrong password get the same answer after the same hashing work. A source
    locked out of the account is refused before any hashing, whatever the password (else the lock
    would not stop the guessing); other sources are not, but wait a little when the account failed
    often lately. Whether an account is activated is told only to whoever knows its password.
    """
    settings = await _settings(pool, tenant_id)
    kinds = [k for k in settings.login_identifiers if not email_only or k == "email"]
    account = await _find_account(pool, tenant_id, login, kinds)
    now = policy.clock()
    if account is not None:
        lock, recent_failures = await _source_lock(pool, policy, account, source, settings, now)
        if lock is not None:
            raise _locked(lock, now)
        await asyncio.sleep(
            sign_in_delay(recent_failures, settings.lockout_threshold, policy.sign_in_delay_cap)
        )
    matches = await passwords.verify_password(account.password_hash if account else None, password)
    if account is None or account.password_hash is None or not matches:
        if account is not None:
            await _count_failure(pool, policy, account, source, settings, now)
        raise _invalid_credentials()
    if account.status != "active":
        raise Forbidden(
            "account-not-activated",
            "Account not activated",
            "follow the link of the activation message first",
        )
    rehashed = (
        await passwords.hash_password(password) if passwords.needs_rehash(account.password_hash) else None
    )
    key = await signing.current_key(pool, policy)
    ticket: str | None = None
    session: Session | None = None
    async with pool.acquire() as conn, conn.transaction():
        current = await store.lock_account(conn, account.account_id)
        if current is None or current.status != "active" or current.password_hash != account.password_hash:
            raise _invalid_credentials()  # changed since: the password checked is not the account's any more
        if (lock := (await _source_lock(conn, policy, current, source, settings, now))[0]) is not None:
            raise _locked(lock, now)
        if rehashed is not None:
            await store.rehash_password(conn, current.account_id, account.password_hash, rehashed)
        if current.password_change_required:
            await store.record_login(conn, current.account_id, source, login_at=None)
            ticket = secrets.token_urlsafe(SECRET_BYTES)
            await session_store.put_change_ticket(
                conn, current.account_id, secret_digest(ticket), now + CHANGE_TICKET_TTL
            )
        else:
            await store.record_login(conn, current.account_id, source, login_at=now)
            session = await _open(conn, policy, key, current, now)
    if ticket is not None:
        raise PasswordChangeRequired(ticket, CHANGE_TICKET_TTL)
    assert session is not None
    return session


async def change_required_password(
    pool: asyncpg.Pool, policy: Policy, change_token: str, new_password: str, source: str
) -> Session:
    """Spend a change ticket: set the new password (the tenant's policy, not the old one) and log in."""
    digest = secret_digest(change_token)
    now = policy.clock()
    ticket = await session_store.change_ticket(pool, digest)
    account = await store.account(pool, ticket.tenant_id, ticket.account_id) if ticket else None
    if ticket is None or ticket.expires_at <= now or account is None:
        raise _invalid_ticket()
    _check_password(await _settings(pool, account.tenant_id), new_password, "new_password")
    if await passwords.verify_password(account.password_hash, new_password):
        raise _must_differ("new_password")
    new_hash = await passwords.hash_password(new_password)
    key = await signing.current_key(pool, policy)
    async with pool.acquire() as conn, conn.transaction():
        current = await store.lock_account(conn, account.account_id)
        taken = await session_store.take_change_ticket(conn, digest)
        if (
            current is None
            or taken is None
            or current.status != "active"
            or not current.password_change_required
            or current.password_hash != account.password_hash
        ):
            raise _invalid_ticket()
        await store.set_password(conn, current.account_id, new_hash)
        await end_sessions(conn, policy, current, "password_changed")
        await store.record_login(conn, current.account_id, source, login_at=now)
        return await _open(conn, policy, key, current, now)


# --- refresh and log out ---


async def refresh_session(pool: asyncpg.Pool, policy: Policy, refresh_token: str, source: str) -> Session:
    """Rotate a refresh token: the next one of its family, and a new access token (not for a source
    locked out of the account).

    A used or revoked token presented again means two parties hold the family: it is revoked whole,
    so that the thief's copy dies too (the owner logs in again). Two refreshes racing with one token
    are such a reuse: the first wins, the second revokes the family (clients refresh one at a time).
    """
    digest = secret_digest(refresh_token)
    key = await signing.current_key(pool, policy)
    now = policy.clock()
    failure: DomainError | None = None
    async with pool.acquire() as conn, conn.transaction():
        owner = await session_store.refresh_token_owner(conn, digest)
        # The account first, then the token: the order every writer of refresh tokens follows.
        account = await store.lock_account(conn, owner) if owner else None
        token = await session_store.lock_refresh_token(conn, digest) if account else None
        if account is None or token is None or token.expires_at <= now:
            raise _session_ended()
        if token.used_at is not None or token.revoked_at is not None:
            log.warning("refresh token reused: family revoked", account_id=str(account.account_id))
            if await session_store.revoke_family(conn, token.family_id, now):
                ended = [token.family_id]
                await announce_ended_sessions(conn, policy, account, ended, "refresh_token_reused")
            failure = _session_ended()
        elif account.status != "active":
            await session_store.revoke_family(conn, token.family_id, now)
            failure = _session_ended()
        elif (
            lock := (
                await _source_lock(
                    conn, policy, account, source, await _settings(conn, account.tenant_id), now
                )
            )[0]
        ) is not None:
            raise _locked(lock, now)
        else:
            await session_store.use_refresh_token(conn, digest, now)
            return await _open(
                conn, policy, key, account, now, family_id=token.family_id, expires_at=token.expires_at
            )
    # Outside the transaction, so that the revocation commits.
    raise failure


async def log_out(pool: asyncpg.Pool, policy: Policy, refresh_token: str) -> None:
    """End the session (the family) of this refresh token; an unknown or ended one changes nothing."""
    digest = secret_digest(refresh_token)
    async with pool.acquire() as conn, conn.transaction():
        owner = await session_store.refresh_token_owner(conn, digest)
        account = await store.lock_account(conn, owner) if owner else None
        if account is None:
            return
        token = await session_store.lock_refresh_token(conn, digest)
        if token is not None and await session_store.revoke_family(conn, token.family_id, policy.clock()):
            await announce_ended_sessions(conn, policy, account, [token.family_id], "logout")


async def _own_account(pool: asyncpg.Pool, tenant_id: str, account_id: str) -> Account:
    try:
        parsed = uuid.UUID(account_id)
    except ValueError:
        raise _no_account() from None
    account = await store.account(pool, tenant_id, parsed)
    if account is None:
        raise _no_account()
    return account


async def revoke_sessions(pool: asyncpg.Pool, policy: Policy, tenant_id: str, account_id: str) -> int:
    """End every session of the account, this one included; returns how many there were."""
    account = await _own_account(pool, tenant_id, account_id)
    async with pool.acquire() as conn, conn.transaction():
        current = await store.lock_account(conn, account.account_id)
        if current is None:
            raise _no_account()
        return await end_sessions(conn, policy, current, "signed_out_everywhere")


# --- change password ---


async def change_password(
    pool: asyncpg.Pool,
    policy: Policy,
    tenant_id: str,
    account_id: str,
    current_session: uuid.UUID | None,
    current_password: str,
    new_password: str,
    source: str,
) -> None:
    """Change the caller's password; every other session ends. A wrong current password counts as a
    failed login: a stolen access token must not become a way to guess the password unhindered."""
    account = await _own_account(pool, tenant_id, account_id)
    settings = await _settings(pool, tenant_id)
    _check_password(settings, new_password, "new_password")
    now = policy.clock()
    if (lock := (await _source_lock(pool, policy, account, source, settings, now))[0]) is not None:
        raise _locked(lock, now)
    if account.password_hash is None or not await passwords.verify_password(
        account.password_hash, current_password
    ):
        await _count_failure(pool, policy, account, source, settings, now)
        raise Invalid.field("current_password", "this is not the account's password", "wrong_password")
    if new_password == current_password:
        raise _must_differ("new_password")
    new_hash = await passwords.hash_password(new_password)
    async with pool.acquire() as conn, conn.transaction():
        current = await store.lock_account(conn, account.account_id)
        if current is None or current.password_hash != account.password_hash:
            raise Conflict("password-changed", "Password changed meanwhile", "log in again and retry")
        await store.set_password(conn, current.account_id, new_hash)
        await session_store.drop_change_tickets(conn, current.account_id)
        await end_sessions(conn, policy, current, "password_changed", keep=current_session)


# --- recovery ---


async def request_recovery(
    pool: asyncpg.Pool, policy: Policy, tenant_id: str, login: str, channel: RecoveryChannel
) -> None:
    """Send a recovery code if the login names an active account (and it got few enough codes lately).

    It returns after `RECOVERY_ANSWER_SECONDS` whatever happened: neither the answer nor its timing
    tells whether an account exists.
    """
    started = time.monotonic()
    try:
        await _send_recovery_code(pool, policy, tenant_id, login, channel)
    finally:
        await asyncio.sleep(max(0.0, RECOVERY_ANSWER_SECONDS - (time.monotonic() - started)))


async def _send_recovery_code(
    pool: asyncpg.Pool, policy: Policy, tenant_id: str, login: str, asked: RecoveryChannel
) -> None:
    account = await _find_account(pool, tenant_id, login, recovery_kinds(await _settings(pool, tenant_id)))
    if account is None or account.status != "active":
        return
    now = policy.clock()
    code = new_code()
    async with pool.acquire() as conn, conn.transaction():
        current = await store.lock_account(conn, account.account_id)
        previous = await store.lock_recovery_code(conn, account.account_id, "recovery")
        window = recovery_window(previous, now)
        channels = recovery_channels(asked, current.email, current.phone) if current else []
        if current is None or window is None or not channels:
            log.info(
                "recovery code not sent", account_id=str(account.account_id), rate_limited=window is None
            )
            return
        expires_at = now + policy.recovery_code_ttl
        await store.put_recovery_code(
            conn,
            current.account_id,
            "recovery",
            code_digest(current.account_id, "recovery", code),
            channels[0],
            created_at=now,
            expires_at=expires_at,
            window_started_at=window[0],
            sent_in_window=window[1],
        )
        for channel in channels:
            request = RecoveryCodeRequested.of(current, channel, code, expires_at)
            await outbox.publish(
                conn, SERVICE, request, subject=str(current.account_id), tenant_id=current.tenant_id
            )


async def confirm_recovery(
    pool: asyncpg.Pool, policy: Policy, tenant_id: str, login: str, code: str, new_password: str
) -> None:
    """Choose a new password with a recovery code: it also lifts any lockout and the forced change,
    and ends every session. A wrong code counts; at `policy.code_attempts` the code dies."""
    settings = await _settings(pool, tenant_id)
    _check_password(settings, new_password, "new_password")
    account = await _find_account(pool, tenant_id, login, recovery_kinds(settings))
    if account is None:
        raise _invalid_code()
    now = policy.clock()
    async with pool.acquire() as conn:
        async with conn.transaction():
            current = await store.lock_account(conn, account.account_id)
            stored = await store.lock_recovery_code(conn, account.account_id, "recovery")
            usable = stored is not None and current is not None and current.status == "active"
            verdict = code_decision(stored, code, now, policy.code_attempts) if stored and usable else "used"
            if verdict == "wrong":
                await store.count_wrong_code(conn, account.account_id, "recovery")
            elif verdict == "accept":
                # Hashed only now, under the lock: failures answer without hashing, all alike.
                new_hash = await passwords.hash_password(new_password)
                await store.set_password(conn, account.account_id, new_hash)
                await store.use_code(conn, account.account_id, "recovery", now)
                await session_store.drop_change_tickets(conn, account.account_id)
                await end_sessions(conn, policy, account, "password_changed")
        if verdict != "accept":
            raise _invalid_code()


# --- administration ---


async def unlock_account(pool: asyncpg.Pool, account_id: uuid.UUID) -> None:
    """Lift the lockout of every source and forget the failed logins."""
    async with pool.acquire() as conn, conn.transaction():
        if await store.lock_account(conn, account_id) is not None:
            await session_store.clear_sign_in_failures(conn, account_id)
