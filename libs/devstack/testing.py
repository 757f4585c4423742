"""pytest fixtures, in two tiers.

- Fast (`@pytest.mark.fast`, `make test-fast`): pure code, in-process fakes, and use cases and
  consumer handlers called with `db`, a connection in a transaction rolled back after the test, on a
  schema migrated once per session for the service. Only PostgreSQL is started, never the broker or
  a service.
- Full (`make test` runs both tiers): one local stack per test session (PostgreSQL, the broker, the
  SMTP and SMS sinks), a fresh schema, role and topic prefix per test, services started in-process
  or as processes. For what crosses the broker or HTTP: delivery, relays, routes, end-to-end flows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from libs.common.api import REVOCATIONS, VERIFIER
from libs.common.auth import ALGORITHM, AUDIENCE, ISSUER, Revocations, TokenVerifier
from libs.common.consumer import EventConsumer, Message, PermanentError
from libs.common.db import (
    create_pool,
    drop_service,
    is_infrastructure_error,
    migrate,
    provision_service,
    service_migrations,
    url_for_role,
)
from libs.common.events import Envelope
from libs.common.runtime import Service, ServiceSpec, add_api, service_app, start
from libs.common.settings import ServiceSettings
from libs.devstack.payments import FakePaymentProvider
from libs.devstack.postgres import PostgresServer
from libs.devstack.processes import PortTaken, free_port, free_ports
from libs.devstack.stack import LocalStack, StackConfig

UNREACHABLE = "http://127.0.0.1:9"
"""A URL nothing answers at: a service's public URL in the fast tier, where no gateway runs."""


def _temporary_folder() -> Path:
    data_dir = Path(tempfile.mkdtemp(prefix="comptoir-test-"))
    data_dir.chmod(0o755)  # PostgreSQL runs as an unprivileged user when the tests run as root
    return data_dir


@contextlib.contextmanager
def running_postgres(*, use_environ: bool = True, attempts: int = 3) -> Iterator[str]:
    """The administrative URL of a PostgreSQL on a free port in a temporary folder, stopped and
    removed afterwards; with `use_environ`, the one named by DATABASE_URL instead."""
    if use_environ and (external := StackConfig.from_environ().database_url):
        yield external
        return
    data_dir = _temporary_folder()
    try:
        for attempt in range(1, attempts + 1):
            server = PostgresServer(data_dir / "postgres", free_port())
            try:
                server.start()
            except PortTaken:
                if attempt == attempts:
                    raise
                continue
            try:
                yield server.admin_url
            finally:
                server.stop()
            return
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def running_stack(*, use_environ: bool = True, database_url: str | None = None) -> Iterator[LocalStack]:
    """A local stack on free ports in a temporary folder; with `use_environ`, external services
    named by DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, SMTP_URL or SMS_URL are used instead, and with
    `database_url`, that PostgreSQL."""
    data_dir = _temporary_folder()
    config = StackConfig.from_environ() if use_environ else StackConfig.from_environ({})
    config.data_dir = data_dir
    if database_url:
        config.database_url = database_url
    try:
        running = _started(config)
        try:
            yield running
        finally:
            running.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _started(config: StackConfig, attempts: int = 3) -> LocalStack:
    """Start the stack on free ports, on other ports when another process took one meanwhile."""
    for attempt in range(1, attempts + 1):
        (
            config.postgres_port,
            config.broker_port,
            config.smtp_port,
            config.sms_port,
            config.payments_port,
        ) = free_ports(5)
        stack = LocalStack(config)
        try:
            stack.start()
        except PortTaken:
            if attempt == attempts:
                raise
            continue
        return stack
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """The administrative URL of the session's PostgreSQL, started once (both tiers share it)."""
    with running_postgres() as admin_url:
        yield admin_url


@pytest.fixture(scope="session")
def stack(postgres: str) -> Iterator[LocalStack]:
    """The session's PostgreSQL, plus the broker and the SMTP and SMS sinks, started once for the
    whole test session."""
    with running_stack(database_url=postgres) as running:
        yield running


class MigratedSchemas:
    """One schema (and login role of the same name) per service folder, migrated on first use and
    shared by the whole session; tests never commit to it (see `db`). Dropped at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._schemas: dict[Path, str] = {}

    async def of(self, service_folder: Path) -> str:
        """The schema of this service folder (the one holding `migrations/`), migrated."""
        folder = service_folder
        if folder not in self._schemas:
            name = f"t_{uuid.uuid4().hex[:10]}"
            await provision_service(self.admin_url, role=name, schema=name)
            conn = await asyncpg.connect(
                url_for_role(self.admin_url, name), server_settings={"search_path": name}
            )
            try:
                await migrate(conn, name, service_migrations(folder))
            finally:
                await conn.close()
            self._schemas[folder] = name
        return self._schemas[folder]

    async def drop(self) -> None:
        for name in self._schemas.values():
            await drop_service(self.admin_url, role=name, schema=name)
        self._schemas.clear()


@pytest.fixture(scope="session")
def migrated_schemas(postgres: str) -> Iterator[MigratedSchemas]:
    schemas = MigratedSchemas(postgres)
    yield schemas
    asyncio.run(schemas.drop())  # async fixtures run in each test's own loop: none is running here


@pytest.fixture
def service_folder() -> Path:
    """The folder of the service whose migrations `db` applies; each service's conftest overrides it
    (`return Path(services.<name>.__file__).parent`)."""
    raise pytest.UsageError("`db` needs a `service_folder` fixture naming the service under test")


@pytest.fixture
async def db(migrated_schemas: MigratedSchemas, service_folder: Path) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the service's role, on its migrated schema, inside a transaction that is rolled
    back after the test: use cases and consumer handlers run on it in milliseconds, and nothing they
    write outlives the test.

    Everything happens in that one transaction: `now()` is the same for every statement, nothing is
    committed (no doorbell rings, no relay publishes, no consumer sees it), and a statement that fails
    aborts the transaction (wrap the expected failure in `db.transaction()`, a savepoint, to go on).
    What needs commits, the broker or HTTP belongs to the full tier."""
    schema = await migrated_schemas.of(service_folder)
    conn = await asyncpg.connect(
        url_for_role(migrated_schemas.admin_url, schema),
        server_settings={"search_path": schema, "application_name": "fast-test"},
        command_timeout=30,
    )
    try:
        transaction = conn.transaction()
        await transaction.start()
        try:
            yield conn
        finally:
            await transaction.rollback()
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def payment_provider() -> Iterator[FakePaymentProvider]:
    """A fake payment provider of the session's own (the fast tier; the stack runs another)."""
    for attempt in range(3):
        provider = FakePaymentProvider(free_port(), slow_s=0.5)
        try:
            provider.start()
        except PortTaken:
            if attempt == 2:
                raise
            continue
        break
    try:
        yield provider
    finally:
        provider.stop()


FULL_TIER_FIXTURES = frozenset({"stack"})
"""A test that needs one of these is not fast: it starts the broker and the sinks, often services."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked `fast` must not reach the full stack: the fast tier stays fast by construction."""
    for item in items:
        if item.get_closest_marker("fast") is None:
            continue
        reached = FULL_TIER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if reached or item.get_closest_marker("slow") is not None:
            raise pytest.UsageError(
                f"{item.nodeid} is marked fast but needs {sorted(reached) or 'the slow marker'}:"
                " move it to the full tier or give it the `db` fixture instead"
            )


@dataclass(frozen=True)
class Isolated:
    """One test's own corner of the stack: a schema and role of its own, and a topic prefix.

    `maildir` and `sms_dir` are where the stack's sinks keep what the services sent (shared by the
    session: a test reads only its own recipients)."""

    name: str
    admin_url: str
    bootstrap_servers: str
    smtp_url: str
    maildir: Path
    sms_url: str | None = None  # None: the settings' default
    sms_dir: Path | None = None
    payment_provider_url: str | None = None  # None: the settings' default

    @classmethod
    def on(cls, stack: LocalStack, name: str) -> Isolated:
        return cls(
            name,
            stack.database_url,
            stack.kafka_bootstrap_servers,
            stack.smtp_url,
            stack.maildir,
            stack.sms_url,
            stack.sms_dir,
            stack.payment_provider_url,
        )

    @property
    def database_url(self) -> str:
        return url_for_role(self.admin_url, self.name)

    @property
    def topic_prefix(self) -> str:
        return f"{self.name}."

    def settings(self, service_name: str, **overrides: Any) -> dict[str, Any]:
        """Settings values for a service instance of this test (also usable as an environment)."""
        values: dict[str, Any] = {
            "service_name": service_name,
            "database_url": self.database_url,
            "database_schema": self.name,
            "kafka_bootstrap_servers": self.bootstrap_servers,
            "topic_prefix": self.topic_prefix,
            "smtp_url": self.smtp_url,
            **({"sms_url": self.sms_url} if self.sms_url else {}),
            **({"payment_provider_url": self.payment_provider_url} if self.payment_provider_url else {}),
            "http_port": free_port(),
            "consumer_retry_backoff_s": 0.05,
            "outbox_poll_interval_s": 0.2,
            "consumer_session_timeout_ms": TEST_SESSION_TIMEOUT_MS,
        }
        values.update(overrides)
        return values

    def environ(self, service_name: str, **overrides: Any) -> dict[str, str]:
        """The environment of a service process of this test."""
        outside = ("DATABASE_", "KAFKA_", "SMTP_", "SMS_", "PAYMENT_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(outside)}
        env.update({k.upper(): str(v) for k, v in self.settings(service_name, **overrides).items()})
        return env

    def service_settings(self, service_name: str, **overrides: Any) -> ServiceSettings:
        return ServiceSettings(**self.settings(service_name, **overrides))


TEST_SESSION_TIMEOUT_MS = 6_000
"""The local broker holds every consumer group's join for half the session timeout, and tests start
a group each: 3 s here instead of 7.5 s with the production value. 6 s is also the least a Kafka
broker accepts by default. The broker-freeze fault test runs with the production value."""


@pytest.fixture
async def isolated(stack: LocalStack) -> AsyncIterator[Isolated]:
    """A clean schema, role and topic prefix for this test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    await provision_service(stack.database_url, role=name, schema=name)
    yield Isolated.on(stack, name)
    await drop_service(stack.database_url, role=name, schema=name)


@pytest.fixture
async def pool(isolated: Isolated) -> AsyncIterator[asyncpg.Pool]:
    """A pool logged in as the test's role, on the test's schema."""
    created = await create_pool(isolated.database_url, isolated.name, max_size=5)
    yield created
    await created.close()


class TokenMinter:
    """Signs access tokens as identity would, with a key of its own; `source` gives its key set."""

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()
        self.kid = f"test-{uuid.uuid4().hex[:8]}"

    def mint(
        self,
        *,
        account_id: str,
        tenant_id: str,
        roles: Sequence[str],
        organisation_id: str | None = None,
        session_id: str | None = None,
        ttl: int = 900,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": account_id,
            "tid": tenant_id,
            "roles": list(roles),
            "iat": now,
            "exp": now + ttl,
        }
        if organisation_id:
            claims["org"] = organisation_id
        if session_id:
            claims["sid"] = session_id
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def headers(self, **claims: Any) -> dict[str, str]:
        """`Authorization` header for a token with these claims (see `mint`)."""
        return {"Authorization": f"Bearer {self.mint(**claims)}"}

    async def source(self) -> Mapping[str, Any]:
        return {self.kid: self._key.public_key()}

    def install(self, app: web.Application) -> None:
        """Make a service app trust this minter's tokens (pass as `start(..., configure=)`)."""
        app[VERIFIER] = TokenVerifier(self.source, revocations=app.get(REVOCATIONS))


@pytest.fixture
def tokens() -> TokenMinter:
    return TokenMinter()


@contextlib.asynccontextmanager
async def service_running(
    spec: ServiceSpec, settings: ServiceSettings, tokens: TokenMinter | None = None
) -> AsyncIterator[str]:
    """Run a service in this process on its settings' port; yields its base URL."""
    running = await start(spec, settings, configure=tokens.install if tokens else None)
    try:
        yield f"http://127.0.0.1:{settings.http_port}"
    finally:
        await running.stop()


async def rows_holding(
    db: asyncpg.Pool | asyncpg.Connection, values: Sequence[str], schemas: Sequence[str] | None = None
) -> list[tuple[str, str, str]]:
    """(schema, table, value) for every row, in every table of these schemas (default: the current
    one), that holds one of these values: where a person's data still is. Bytes (event payloads)
    are read as UTF-8, everything else as text."""
    tables = await db.fetch(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        " AND table_schema = ANY(coalesce($1::text[], ARRAY[current_schema()::text]))",
        schemas,
    )
    empty = set(schemas or ()) - {t["table_schema"] for t in tables}
    assert not empty, f"no tables in {sorted(empty)}: a search there would find nothing, whatever is stored"
    found = []
    for table in tables:
        schema, name = table["table_schema"], table["table_name"]
        for row in await db.fetch(f'SELECT * FROM "{schema}"."{name}"'):
            text = " ".join(
                bytes(v).decode(errors="replace") if isinstance(v, bytes | memoryview) else str(v)
                for v in row.values()
            )
            found += [(schema, name, value) for value in values if value in text]
    return found


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    """Poll `check` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class ServiceUnderTest:
    """A service running in this process on a schema and topic prefix of its own, with a client,
    a pool on its schema, a producer for the events it consumes and the minter its tokens trust."""

    http: aiohttp.ClientSession
    url: str
    tokens: TokenMinter
    isolated: Isolated
    db: asyncpg.Pool
    producer: AIOKafkaProducer

    async def publish(self, topic: str, event: Envelope, *, key: str | None = None) -> None:
        """Put an event on one of the service's input topics, keyed by its subject unless told."""
        await self.producer.send_and_wait(
            self.isolated.topic_prefix + topic, event.to_bytes(), key=(key or event.subject).encode()
        )


@contextlib.asynccontextmanager
async def service_under_test(
    stack: LocalStack,
    spec: ServiceSpec | Callable[[Any], ServiceSpec],
    service_name: str,
    settings_class: type[ServiceSettings] = ServiceSettings,
    **overrides: Any,
) -> AsyncIterator[ServiceUnderTest]:
    """Start a service for a whole test module (starting one costs seconds: its consumer joins its
    group). Tests share it and stay apart by using tenants of their own. `spec` may be built from
    the settings (a service whose consumers need them)."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    await provision_service(stack.database_url, role=name, schema=name)
    isolated = Isolated.on(stack, name)
    settings = settings_class(**isolated.settings(service_name, role="all", **overrides))
    tokens = TokenMinter()
    producer = AIOKafkaProducer(bootstrap_servers=isolated.bootstrap_servers)
    try:
        resolved = spec if isinstance(spec, ServiceSpec) else spec(settings)
        async with service_running(resolved, settings, tokens) as url, aiohttp.ClientSession() as http:
            await producer.start()
            db = await create_pool(isolated.database_url, name, max_size=3)
            try:
                yield ServiceUnderTest(http, url, tokens, isolated, db, producer)
            finally:
                await db.close()
                await producer.stop()
    finally:
        await drop_service(stack.database_url, role=name, schema=name)


# --- the fast tier's in-process service ---


class OneConnection:
    """The pool a service gets in the fast tier: the test's one connection (`db`), in its
    rolled-back transaction, taken in turn.

    A statement run on the pool itself is a savepoint, as it would be a transaction of its own: what
    fails there is undone and the test's transaction goes on. What the service does on an acquired
    connection is as in production (its `transaction()` blocks become savepoints). A task that holds
    the connection may use the pool again (a real pool would give it a second connection): it gets
    the same one, inside what it holds."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        task = asyncio.current_task()
        if self._holder is task:
            yield self._conn
            return
        async with self._lock:
            self._holder = task
            try:
                yield self._conn
            finally:
                self._holder = None

    @contextlib.asynccontextmanager
    async def _statement(self) -> AsyncIterator[asyncpg.Connection]:
        """A statement on the pool commits alone: here, a savepoint of its own."""
        async with self.acquire() as conn, conn.transaction():
            yield conn

    async def execute(self, query: str, *args: Any) -> str:
        async with self._statement() as conn:
            return str(await conn.execute(query, *args))

    async def executemany(self, query: str, args: Any) -> None:
        async with self._statement() as conn:
            await conn.executemany(query, args)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self._statement() as conn:
            return list(await conn.fetch(query, *args))

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        async with self._statement() as conn:
            return await conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self._statement() as conn:
            return await conn.fetchval(query, *args)

    async def close(self) -> None:
        """The test's connection outlives the service: nothing to close."""


@dataclass
class InProcessService:
    """A service's app in this process, on the test's rolled-back transaction: a real HTTP server
    on a free port of 127.0.0.1 (tests call it with `http` at `url`), its pool (`db`), the minter its
    tokens trust, and `publish`, which hands an event to the service's consumer handlers the way
    the consumer applies one from the broker (inbox, then handler, in a transaction of its own)."""

    http: aiohttp.ClientSession
    url: str
    tokens: TokenMinter
    db: OneConnection
    app: web.Application
    consumer: EventConsumer

    async def publish(self, topic: str, event: Envelope, *, key: str | None = None) -> None:
        """Apply an event of one of the service's input topics now, as the consumer does: retried up
        to its attempts (at once), then dead-lettered; an event refused for good is dead-lettered at
        once. An outage of the database is raised: in the fast tier it is a test's mistake."""
        message = Message.parse(topic, key or event.subject, 0, 0, event.to_bytes())
        while True:
            try:
                await self.consumer.apply(message)
                return
            except Exception as exc:
                if is_infrastructure_error(exc):
                    raise
                message.attempts += 1
                if isinstance(exc, PermanentError | ValidationError) or (
                    message.attempts >= self.consumer.config.max_attempts
                ):
                    error = "".join(traceback.format_exception_only(exc)).strip()
                    await self.consumer.dead_letter(message, error)
                    return


@contextlib.asynccontextmanager
async def service_in_process(
    db: asyncpg.Connection,
    spec: ServiceSpec,
    settings: ServiceSettings,
    *,
    tokens: TokenMinter | None = None,
    configure: Callable[[web.Application], None] | None = None,
) -> AsyncIterator[InProcessService]:
    """Serve the service's API (the app the api role serves, without the broker: no revocation
    feed, no relay, no consumer loop) over the test's `db`. `tokens` installs a minter's key set as
    the verifier (identity verifies with its own keys: leave it out); `configure` adjusts the app."""
    pool = OneConnection(db)
    service = Service(spec, settings, pool)
    app = service_app(service)
    add_api(app, spec, settings, Revocations(capacity=settings.revocation_capacity))
    minter = tokens or TokenMinter()
    if tokens is not None:
        tokens.install(app)
    if configure is not None:
        configure(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield InProcessService(
                http, str(server.make_url("")).rstrip("/"), minter, pool, app, service.consumer_for()
            )
    finally:
        await server.close()


# --- idempotent routes, replayed ---


@dataclass(frozen=True)
class Replayable:
    """A valid request to a route declared `idempotent=True` (a JSON body or raw bytes)."""

    method: str
    path: str
    headers: Mapping[str, str]
    json: Any = None
    data: bytes | None = None


def idempotent_routes(spec: ServiceSpec) -> set[tuple[str, str]]:
    """(method, path) of every route of the service that acts once per Idempotency-Key."""
    return {(endpoint.method, endpoint.path) for endpoint in spec.endpoints if endpoint.idempotent}


async def row_counts(db: asyncpg.Connection | OneConnection) -> dict[str, int]:
    """How many rows each table of the current schema holds."""
    tables = await db.fetch(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
    )
    return {t["table_name"]: await db.fetchval(f'SELECT count(*) FROM "{t["table_name"]}"') for t in tables}


async def assert_replayed_once(
    http: aiohttp.ClientSession, url: str, request: Replayable, db: asyncpg.Connection | OneConnection
) -> None:
    """Send the request twice with one Idempotency-Key: the second answer is the first one again
    (status, body, Location), marked `Idempotent-Replayed`, and changes no table."""

    async def send() -> tuple[int, Any, Mapping[str, str]]:
        headers = {**request.headers, "Idempotency-Key": key}
        async with http.request(
            request.method, url + request.path, json=request.json, data=request.data, headers=headers
        ) as resp:
            return resp.status, await resp.json(content_type=None), resp.headers

    key = uuid.uuid4().hex
    status, first, first_headers = await send()
    assert 200 <= status < 300, (request.path, status, first)
    assert "Idempotent-Replayed" not in first_headers
    before = await row_counts(db)
    again_status, again, again_headers = await send()
    assert (again_status, again) == (status, first), request.path
    assert again_headers.get("Idempotent-Replayed") == "true", request.path
    assert again_headers.get("Location") == first_headers.get("Location"), request.path
    assert await row_counts(db) == before, f"the replay of {request.path} changed a table"
