"""Helpers of the credentials tests: identity with a clock tests can move, tenants and accounts made
straight in the database (independent of the registration workflows), and a login load measurement.

Measure login latency and the event loop's lag at 20 logins/s (starts its own local stack):

    .venv/bin/python -m services.identity.tests.credentials_support [--rate 20] [--seconds 30] [--warmup 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from libs.common.db import create_pool, drop_service, provision_service
from libs.common.ratelimit import Rate
from libs.common.runtime import start
from libs.devstack.testing import Isolated, running_stack, service_in_process
from services.identity import passwords
from services.identity.app import Settings, build_spec
from services.identity.policy import Policy
from services.identity.routes import POLICY

PASSWORD = "Correct-Horse-9"
NEW_PASSWORD = "Battery-Staple-7"
# Identity has no platform key unless given one: the tests' is new at every run, like `make run`'s.
PLATFORM_KEY = secrets.token_urlsafe(32)


# Tests make many requests from one address: the limits per address are raised, but where a test
# checks them (it passes the production ones, `Settings`' defaults).
RAISED_LIMITS: dict[str, Any] = {
    name: Rate(10_000, 1) for name in ("sign_in_limit", "registration_limit", "message_limit", "code_limit")
}


def identity_settings(isolated: Isolated, role: str = "api", **overrides: Any) -> Settings:
    """Identity's settings for a test: its schema and topics, the tests' platform key, raised limits."""
    values = {"platform_key": PLATFORM_KEY, **RAISED_LIMITS, **overrides}
    return Settings(**isolated.settings("identity", role=role, **values))


@dataclass
class FakeClock:
    """The real time moved by `offset`: tests jump forward instead of sleeping. Tokens signed at a
    moved time are not valid yet for verifiers on the real clock: move it only where none is checked."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Credentials:
    """A running identity (API role) with a movable clock, its database, and the calls tests make."""

    http: aiohttp.ClientSession
    url: str
    db: asyncpg.Pool
    clock: FakeClock
    policy: Policy

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, self.url + path, json=body, headers=sent) as resp:
            return Reply(resp.status, await resp.json(content_type=None), dict(resp.headers))

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        reply = await self.request(method, path, body, token=token, headers=headers)
        return reply.status, reply.body

    async def log_in(self, tenant_id: str, login: str, password: str = PASSWORD) -> tuple[int, Any]:
        return await self.call(
            "POST", "/sessions", {"tenant_id": tenant_id, "login": login, "password": password}
        )

    async def session(self, tenant_id: str, login: str, password: str = PASSWORD) -> dict[str, Any]:
        """Log in, expecting a session: its body (access_token, refresh_token…)."""
        status, body = await self.log_in(tenant_id, login, password)
        assert status == 200, body
        return dict(body)

    async def refresh(self, refresh_token: str) -> tuple[int, Any]:
        return await self.call("POST", "/sessions/refresh", {"refresh_token": refresh_token})

    async def account(self, account_id: uuid.UUID) -> asyncpg.Record:
        row = await self.db.fetchrow("SELECT * FROM accounts WHERE account_id = $1", account_id)
        assert row is not None
        return row

    async def failures(self, account_id: uuid.UUID) -> dict[str, tuple[int, datetime | None]]:
        """{source: (failed logins in a row, lock taken)} of the account."""
        rows = await self.db.fetch(
            "SELECT source, failures, locked_at FROM sign_in_failures WHERE account_id = $1", account_id
        )
        return {row["source"]: (row["failures"], row["locked_at"]) for row in rows}

    async def notify_requests(self, account_id: uuid.UUID) -> list[dict[str, Any]]:
        """The envelopes identity put on internal.notify.requests.v1 for an account, oldest first."""
        rows = await self.db.fetch(
            "SELECT payload FROM outbox WHERE topic = 'internal.notify.requests.v1' AND key = $1 ORDER BY id",
            str(account_id),
        )
        return [json.loads(row["payload"]) for row in rows]


@contextlib.asynccontextmanager
async def identity_running(
    isolated: Isolated, db: asyncpg.Pool, **settings: Any
) -> AsyncIterator[Credentials]:
    """Identity in the API role on the test's schema, its policy reading a `FakeClock`; `settings`
    override identity's settings."""
    clock = FakeClock()
    policies: list[Policy] = []

    def keep_policy(app: web.Application) -> None:
        policies.append(app[POLICY])

    running_settings = identity_settings(isolated, **settings)
    running = await start(build_spec(running_settings, clock), running_settings, configure=keep_policy)
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{running_settings.http_port}"
            yield Credentials(http, url, db, clock, policies[0])
    finally:
        await running.stop()


@contextlib.asynccontextmanager
async def identity_in_process(db: asyncpg.Connection, **settings: Any) -> AsyncIterator[Credentials]:
    """Identity's API in this process on the test's rolled-back transaction (the fast tier), its
    policy reading a `FakeClock`; `settings` override identity's settings."""
    clock = FakeClock()
    policies: list[Policy] = []

    def keep_policy(app: web.Application) -> None:
        policies.append(app[POLICY])

    values = Settings(**{"platform_key": PLATFORM_KEY, **RAISED_LIMITS, **settings})
    async with service_in_process(db, build_spec(values, clock), values, configure=keep_policy) as running:
        yield Credentials(running.http, running.url, running.db, clock, policies[0])


async def add_tenant(db: asyncpg.Pool, **settings: Any) -> str:
    """A tenant with its settings row (defaults, or the columns given)."""
    tenant_id = f"brand-{uuid.uuid4().hex[:8]}"
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO tenants (tenant_id, name) VALUES ($1, 'Brand')", tenant_id)
        await conn.execute("INSERT INTO tenant_settings (tenant_id) VALUES ($1)", tenant_id)
        for column, value in settings.items():
            # Column names come from the tests, never from input.
            await conn.execute(
                f"UPDATE tenant_settings SET {column} = $2 WHERE tenant_id = $1", tenant_id, value
            )
    return tenant_id


async def add_account(
    db: asyncpg.Pool,
    tenant_id: str,
    email: str,
    *,
    password: str | None = PASSWORD,
    password_hash: str | None = None,
    roles: tuple[str, ...] = ("partner",),
    status: str = "active",
    registration_number: str | None = None,
    card_number: str | None = None,
    phone: str | None = None,
    password_change_required: bool = False,
) -> uuid.UUID:
    """An account row as the registration workflows leave it (active unless told otherwise)."""
    if password_hash is None and password is not None:
        password_hash = await passwords.hash_password(password)
    account_id = uuid.uuid4()
    now = datetime.now(UTC)
    await db.execute(
        """
        INSERT INTO accounts (account_id, tenant_id, email, password_hash, display_name, locale, roles,
                              status, created_at, activated_at, registration_number, card_number, phone,
                              password_change_required)
        VALUES ($1, $2, $3, $4, 'Claire', 'fr', $5, $6, $7, $8, $9, $10, $11, $12)
        """,
        account_id,
        tenant_id,
        email,
        password_hash,
        list(roles),
        status,
        now,
        now if status == "active" else None,
        registration_number,
        card_number,
        phone,
        password_change_required,
    )
    return account_id


# --- login load measurement ---


@dataclass
class LoadFigures:
    logins: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float

    def __str__(self) -> str:
        return (
            f"{self.logins} logins ({self.errors} errors): latency p50 {self.p50_ms:.1f} ms,"
            f" p99 {self.p99_ms:.1f} ms, max {self.max_ms:.1f} ms;"
            f" event loop lag p50 {self.lag_p50_ms:.1f} ms, p99 {self.lag_p99_ms:.1f} ms,"
            f" max {self.lag_max_ms:.1f} ms"
        )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def measure_logins(ident: Credentials, rate: float, seconds: float, warmup: float = 5) -> LoadFigures:
    """Log in `rate` times a second (open loop: a slow answer does not slow the arrivals) and sample
    the lag of the event loop that serves identity (the service runs in this process). The first
    `warmup` seconds run the same load unrecorded: a stack that just started is still busy."""
    tenant_id = await add_tenant(ident.db, lockout_threshold=100)
    logins = [f"user{i}@load.test" for i in range(20)]
    for email in logins:
        await add_account(ident.db, tenant_id, email)
    await ident.session(tenant_id, logins[0])  # the first key, the dummy hash
    latencies: list[float] = []
    lags: list[float] = []
    errors = 0
    stop = asyncio.Event()

    async def sample_lag() -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append((time.perf_counter() - before - 0.01) * 1000)

    async def one(i: int, recorded: bool) -> None:
        nonlocal errors
        started = time.perf_counter()
        status, _ = await ident.log_in(tenant_id, logins[i % len(logins)])
        if recorded:
            latencies.append((time.perf_counter() - started) * 1000)
            errors += status != 200

    async def load(duration: float, recorded: bool) -> None:
        tasks = []
        begin = time.perf_counter()
        for i in range(int(rate * duration)):
            await asyncio.sleep(max(0.0, begin + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(i, recorded)))
        await asyncio.gather(*tasks)

    await load(warmup, recorded=False)
    sampler = asyncio.create_task(sample_lag())
    await load(seconds, recorded=True)
    stop.set()
    await sampler
    return LoadFigures(
        logins=len(latencies),
        errors=errors,
        p50_ms=statistics.median(latencies),
        p99_ms=_percentile(latencies, 0.99),
        max_ms=max(latencies),
        lag_p50_ms=statistics.median(lags),
        lag_p99_ms=_percentile(lags, 0.99),
        lag_max_ms=max(lags),
    )


async def _measure(rate: float, seconds: float, warmup: float) -> None:
    with running_stack(use_environ=False) as stack:
        name = f"t_{uuid.uuid4().hex[:10]}"
        await provision_service(stack.database_url, role=name, schema=name)
        isolated = Isolated.on(stack, name)
        db = await create_pool(isolated.database_url, name, max_size=5)
        try:
            async with identity_running(isolated, db) as ident:
                print(await measure_logins(ident, rate, seconds, warmup))
        finally:
            await db.close()
            await drop_service(stack.database_url, role=name, schema=name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20, help="logins per second")
    parser.add_argument("--seconds", type=float, default=30, help="how long to measure")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of the same load before")
    args = parser.parse_args()
    asyncio.run(_measure(args.rate, args.seconds, args.warmup))


if __name__ == "__main__":
    main()
