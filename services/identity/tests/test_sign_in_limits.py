"""Limits per client address and a lockout strangers cannot use against an account's owner.

Requests come from the test (127.0.0.1, a trusted proxy by default) with `X-Forwarded-For`, as the
gateway sends them: the address it names is the client's.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from services.identity import passwords
from services.identity.app import Settings
from services.identity.limits import source_of
from services.identity.sessions import sign_in_delay
from services.identity.tests.credentials_support import (
    PASSWORD,
    RAISED_LIMITS,
    Credentials,
    add_account,
    add_tenant,
    identity_in_process,
)

pytestmark = pytest.mark.fast

WRONG = "Wrong-Horse-9"
STRANGER = "203.0.113.7"
OWNER = "198.51.100.20"
# The limits a production identity starts with.
PRODUCTION_LIMITS = {name: Settings.model_fields[name].default for name in RAISED_LIMITS}


def at(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def log_in(ident: Credentials, tenant: str, login: str, password: str, address: str) -> tuple[int, Any]:
    body = {"tenant_id": tenant, "login": login, "password": password}
    return await ident.call("POST", "/sessions", body, headers=at(address))


@pytest.fixture
async def ident(db: asyncpg.Connection) -> AsyncIterator[Credentials]:
    async with identity_in_process(db) as running:
        yield running


@pytest.fixture
async def production(db: asyncpg.Connection) -> AsyncIterator[Credentials]:
    async with identity_in_process(db, **PRODUCTION_LIMITS) as running:
        yield running


# --- lockout per source ---


@pytest.mark.parametrize("lockout_minutes", [15, None], ids=["timed", "until-unlocked"])
async def test_a_strangers_failures_never_stop_the_owner_signing_in_from_elsewhere(
    ident: Credentials, lockout_minutes: int | None
) -> None:
    tenant = await add_tenant(ident.db, lockout_threshold=5, lockout_minutes=lockout_minutes)
    account_id = await add_account(ident.db, tenant, "claire@pharmacie.test")
    await add_account(ident.db, tenant, "admin@pharmacie.test", roles=("admin",))
    admin = (await ident.session(tenant, "admin@pharmacie.test"))["access_token"]

    answers = [await log_in(ident, tenant, "claire@pharmacie.test", WRONG, STRANGER) for _ in range(8)]
    assert [status for status, _ in answers] == [401] * 4 + [423] * 4
    # The stranger's address is locked out, even with the right password.
    assert (await log_in(ident, tenant, "claire@pharmacie.test", PASSWORD, STRANGER))[0] == 423

    ident.clock.advance(timedelta(days=3) if lockout_minutes is None else timedelta(minutes=10))
    status, session = await log_in(ident, tenant, "claire@pharmacie.test", PASSWORD, OWNER)
    assert status == 200, session
    status, refreshed = await ident.call(
        "POST", "/sessions/refresh", {"refresh_token": session["refresh_token"]}, headers=at(OWNER)
    )
    assert status == 200, refreshed
    # Her success is hers: the stranger stays locked.
    status, problem = await log_in(ident, tenant, "claire@pharmacie.test", PASSWORD, STRANGER)
    assert status == 423 and problem["type"] == "urn:comptoir:problem:account-locked"
    assert set(await ident.failures(account_id)) == {STRANGER}

    # An admin's unlock frees every source.
    assert (await ident.call("POST", f"/accounts/{account_id}/unlock", token=admin))[0] == 204
    assert await ident.failures(account_id) == {}
    assert (await log_in(ident, tenant, "claire@pharmacie.test", PASSWORD, STRANGER))[0] == 200


async def test_failures_from_many_addresses_slow_the_account_down_and_lock_nobody_out(
    ident: Credentials,
) -> None:
    tenant = await add_tenant(ident.db, lockout_threshold=3)
    account_id = await add_account(ident.db, tenant, "claire@pharmacie.test")
    for i in range(5):
        assert (await log_in(ident, tenant, "claire@pharmacie.test", WRONG, f"203.0.113.{i}"))[0] == 401
    assert all(locked_at is None for _, locked_at in (await ident.failures(account_id)).values())

    started = time.monotonic()
    assert (await log_in(ident, tenant, "claire@pharmacie.test", PASSWORD, OWNER))[0] == 200
    assert time.monotonic() - started >= sign_in_delay(5, 3, timedelta(seconds=3)) == 1.0

    # Failures older than the window no longer slow anyone down.
    ident.clock.advance(timedelta(minutes=16))
    started = time.monotonic()
    assert (await log_in(ident, tenant, "claire@pharmacie.test", PASSWORD, OWNER))[0] == 200
    assert time.monotonic() - started < 0.9


def test_the_delay_grows_with_recent_failures_up_to_its_cap() -> None:
    cap = timedelta(seconds=3)
    assert [sign_in_delay(n, 5, cap) for n in range(4, 11)] == [0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 3.0]
    assert sign_in_delay(10_000, 5, cap) == 3.0


def test_a_source_is_the_address_or_its_ipv6_64() -> None:
    assert source_of("203.0.113.7") == "203.0.113.7"
    assert source_of("2001:db8:1:2:aaaa::1") == source_of("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert source_of("::ffff:203.0.113.7") == "203.0.113.7"


# --- limits per address ---


async def test_thirty_sign_ins_on_different_accounts_from_one_address_get_429(
    production: Credentials,
) -> None:
    ident = production
    tenant = await add_tenant(ident.db)
    password_hash = await passwords.hash_password(PASSWORD)
    logins = [f"user{i}@pharmacie.test" for i in range(30)]
    for login in logins:
        await add_account(ident.db, tenant, login, password_hash=password_hash)

    started = time.monotonic()
    replies = await asyncio.gather(
        *(
            ident.request(
                "POST",
                "/sessions",
                {"tenant_id": tenant, "login": login, "password": PASSWORD},
                headers=at(STRANGER),
            )
            for login in logins
        )
    )
    limited = [reply for reply in replies if reply.status == 429]
    assert limited and all(reply.status in (200, 429) for reply in replies)
    assert time.monotonic() - started < 10
    for reply in limited:
        assert reply.body["type"] == "urn:comptoir:problem:rate-limited"
        assert int(reply.headers["Retry-After"]) >= 1
    # Another address is not concerned.
    assert (await log_in(ident, tenant, logins[0], PASSWORD, OWNER))[0] == 200


async def test_registrations_messages_and_codes_are_limited_per_address(production: Credentials) -> None:
    ident = production
    tenant = await add_tenant(ident.db)
    await add_account(ident.db, tenant, "claire@pharmacie.test")

    def register(i: int) -> dict[str, Any]:
        return {
            "tenant_id": tenant,
            "email": f"new{i}-{uuid.uuid4().hex[:6]}@pharmacie.test",
            "display_name": "N",
        }

    resend = {"tenant_id": tenant, "login": "claire@pharmacie.test"}
    recover = {"tenant_id": tenant, "login": "claire@pharmacie.test"}
    code = {"tenant_id": tenant, "login": "claire@pharmacie.test", "code": "123456", "password": PASSWORD}
    confirm = code | {"new_password": PASSWORD}
    del confirm["password"]

    for i in range(10):
        assert (await ident.call("POST", "/accounts", register(i), headers=at(STRANGER)))[0] == 201
    assert (await ident.call("POST", "/accounts", register(10), headers=at(STRANGER)))[0] == 429

    # Activation resends and recovery codes asked for share one allowance.
    for _ in range(5):
        assert (await ident.call("POST", "/activations/resend", resend, headers=at(STRANGER)))[0] == 202
        assert (await ident.call("POST", "/recoveries", recover, headers=at(STRANGER)))[0] == 202
    for path, body in (("/activations/resend", resend), ("/recoveries", recover)):
        reply = await ident.request("POST", path, body, headers=at(STRANGER))
        assert reply.status == 429 and int(reply.headers["Retry-After"]) >= 1, path

    # Codes typed (activation and recovery) likewise.
    for _ in range(5):
        assert (await ident.call("POST", "/activations/code", code, headers=at(STRANGER)))[0] != 429
        assert (await ident.call("POST", "/recoveries/confirm", confirm, headers=at(STRANGER)))[0] != 429
    for path, body in (("/activations/code", code), ("/recoveries/confirm", confirm)):
        assert (await ident.call("POST", path, body, headers=at(STRANGER)))[0] == 429, path

    # Each limit is the address's own.
    assert (await ident.call("POST", "/accounts", register(11), headers=at(OWNER)))[0] == 201
    assert (await ident.call("POST", "/recoveries", recover, headers=at(OWNER)))[0] == 202
    assert (await ident.call("POST", "/recoveries/confirm", confirm, headers=at(OWNER)))[0] == 400
