"""Runs one service: provisioning, migrations, HTTP API, outbox relay and consumers, by role."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncpg
import structlog
import uvloop
from aiohttp import web
from aiokafka.admin import AIOKafkaAdminClient

from libs.common.api import REVOCATIONS, VERIFIER, Endpoint, add_endpoints, openapi_document
from libs.common.auth import KeySource, Revocations, TokenVerifier, jwks_source
from libs.common.clock import CLOCK, Clock, utc_now
from libs.common.consumer import ConsumerConfig, EventConsumer, HandlerTable, list_dead_letters
from libs.common.db import INFRASTRUCTURE_ERRORS, create_pool, migrate, provision_service, service_migrations
from libs.common.db import POOL as POOL
from libs.common.events import EventCatalog
from libs.common.http import AppRunner, ReadinessCheck, create_app
from libs.common.kafka import dlq_topic, ensure_topics
from libs.common.logging import configure_logging
from libs.common.outbox import OutboxRelay, RelayConfig
from libs.common.revocation import SESSION_TOPIC, FeedConfig, RevocationFeed
from libs.common.settings import ServiceSettings
from libs.common.stopping import pause

log = structlog.get_logger(__name__)
T = TypeVar("T")

SETTINGS = web.AppKey("settings", ServiceSettings)

ApiSetup = Callable[[web.Application], None]
"""Adds a service's routes (and anything they need) to its aiohttp application."""

Worker = Callable[[asyncpg.Pool, asyncio.Event], Coroutine[Any, Any, None]]
"""A background loop of the worker role (e.g. notify's mail dispatcher); returns once the event is
set. What it needs besides the pool (its settings, the clock) is bound when the service is composed."""


@dataclass(frozen=True)
class ServiceSpec:
    """What makes a service: its name, migrations, published events, consumers and API."""

    name: str
    folder: Path
    events: EventCatalog
    handlers: HandlerTable = field(default_factory=dict)
    endpoints: Sequence[Endpoint] = ()
    api: ApiSetup | None = None  # extra wiring of the api role (clients, key stores…)
    workers: Sequence[Worker] = ()  # extra loops run beside the consumers
    clock: Clock = utc_now  # the time its handlers read (`libs.common.clock.now`)

    @property
    def topics(self) -> list[str]:
        """Topics this service creates: what it publishes, and the dead-letter topics of its consumers."""
        return sorted({*self.events.topics, *(dlq_topic(t) for t in self.handlers)})


@dataclass
class Service:
    """A started service: its pool and, in the worker role, its relay and consumer."""

    spec: ServiceSpec
    settings: ServiceSettings
    pool: asyncpg.Pool
    relay: OutboxRelay | None = None
    consumer: EventConsumer | None = None

    def consumer_for(self) -> EventConsumer:
        s = self.settings
        return EventConsumer(
            self.pool,
            self.spec.handlers,
            ConsumerConfig(
                name=self.spec.name,
                bootstrap_servers=s.kafka_bootstrap_servers,
                topic_prefix=s.topic_prefix,
                max_attempts=s.consumer_max_attempts,
                retry_backoff=s.consumer_retry_backoff_s,
                fetch_max_wait_ms=s.consumer_fetch_max_wait_ms,
                idle_fetch_max_wait_ms=s.consumer_idle_fetch_max_wait_ms,
                session_timeout_ms=s.consumer_session_timeout_ms,
                heartbeat_interval_ms=s.consumer_heartbeat_interval_ms,
                inbox_retention=timedelta(hours=s.inbox_retention_hours),
            ),
        )

    def relay_for(self) -> OutboxRelay:
        s = self.settings
        return OutboxRelay(
            self.pool,
            RelayConfig(
                service=self.spec.name,
                schema=s.db_schema,
                bootstrap_servers=s.kafka_bootstrap_servers,
                topic_prefix=s.topic_prefix,
                partitions=s.topic_partitions,
                replication_factor=s.topic_replication_factor,
                topics=tuple(self.spec.topics),
                batch_size=s.outbox_batch_size,
                poll_interval=s.outbox_poll_interval_s,
                linger=s.outbox_linger_ms / 1000,
                retention=timedelta(hours=s.outbox_retention_hours),
                idempotence=s.kafka_enable_idempotence,
                idle_broker_check=s.outbox_idle_broker_check_s,
            ),
        )


async def open_service(spec: ServiceSpec, settings: ServiceSettings) -> Service:
    """Provision (when given an admin URL), connect and migrate."""
    if settings.database_admin_url:
        schema = settings.db_schema
        await provision_service(settings.database_admin_url, role=schema, schema=schema)
    pool = await _retry(
        "database",
        lambda: create_pool(
            settings.database_url, settings.db_schema, max_size=settings.database_pool_size, name=spec.name
        ),
    )
    async with pool.acquire() as conn:
        await migrate(conn, settings.db_schema, service_migrations(spec.folder))
    return Service(spec, settings, pool)


async def _retry(what: str, attempt: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
    """Wait for a dependency at start-up (containers start in any order)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.2
    while True:
        try:
            return await attempt()
        except (OSError, asyncpg.CannotConnectNowError) as exc:
            if loop.time() > deadline:
                raise
            log.warning("waiting for dependency", dependency=what, error=repr(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


def build_app(service: Service, *, with_api: bool) -> web.Application:
    """The HTTP app: probes and metrics always, the service's routes in the api role.

    Readiness checks what the process's roles need: the database always, the broker and the
    consumer's group membership only where a relay or a consumer runs, and in the api role the
    session revocations read up to date (its verifier must not accept a token of an ended session).
    """

    async def broker_ready() -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=service.settings.kafka_bootstrap_servers, request_timeout_ms=1500
        )
        await admin.start()
        await admin.close()

    async def consumer_ready() -> None:
        if service.consumer is not None and not service.consumer.ready.is_set():
            raise RuntimeError("consumer has not joined its group yet")

    checks: list[tuple[str, ReadinessCheck]] = []
    # The api role only writes to the outbox: a broker outage must not take it out of service.
    if service.relay is not None or service.consumer is not None:
        checks += [("broker", broker_ready), ("consumer", consumer_ready)]
    feed = _revocation_feed(service.settings) if with_api else None
    if feed is not None:
        checks.append(("revocations", feed.ready))
    app = service_app(service, checks)
    if feed is not None:  # the api role
        app.cleanup_ctx.append(feed.cleanup_ctx)
        add_api(app, service.spec, service.settings, feed.revocations)
    return app


def service_app(service: Service, readiness: Sequence[tuple[str, ReadinessCheck]] = ()) -> web.Application:
    """The app every role serves: probes (the database, then `readiness`), metrics, the event catalog;
    the service's pool, settings and clock on it."""

    async def database_ready() -> None:
        await service.pool.fetchval("SELECT 1")

    app = create_app(
        service=service.spec.name,
        max_body_bytes=service.settings.http_max_body_bytes,
        readiness=[("database", database_ready), *readiness],
        trusted_proxies=service.settings.trusted_proxies,
    )
    app[POOL] = service.pool
    app[SETTINGS] = service.settings
    app[CLOCK] = service.spec.clock
    app.router.add_get("/events.json", _serve_json(service.spec.events.json_schemas()))
    return app


def add_api(
    app: web.Application, spec: ServiceSpec, settings: ServiceSettings, revocations: Revocations
) -> None:
    """The api role's part: its routes, their OpenAPI document, and a token verifier that refuses
    the sessions `revocations` knows ended (a service's `api` setup may install its own verifier)."""
    app.router.add_get("/openapi.json", _serve_json(openapi_document(spec.name, spec.endpoints)))
    app.cleanup_ctx.append(_http_client)
    app[REVOCATIONS] = revocations
    app[VERIFIER] = TokenVerifier(_lazy_jwks(app, settings.jwks_url), revocations=revocations)
    if spec.api is not None:
        spec.api(app)
    add_endpoints(app, spec.endpoints)


async def every(
    stopping: asyncio.Event, interval_s: float, what: str, job: Callable[[], Awaitable[None]]
) -> None:
    """The loop of a periodic worker: `job` at start, then every `interval_s`, until `stopping` is set.

    A failing job must not take the API and consumers down with it: an outage of the database is
    logged as a warning, any other failure with its traceback, and the job runs again next time."""
    while not stopping.is_set():
        try:
            await job()
        except INFRASTRUCTURE_ERRORS as exc:
            log.warning(f"{what} postponed", error=repr(exc))
        except Exception:
            log.exception(f"{what} failed")
        await pause(stopping, interval_s)


def worker_name(worker: Worker) -> str:
    """A worker's function name (its task name and log field), through `functools.partial`."""
    return getattr(worker, "__name__", None) or getattr(worker, "func", worker).__name__


def _revocation_feed(settings: ServiceSettings) -> RevocationFeed:
    return RevocationFeed(
        Revocations(capacity=settings.revocation_capacity),
        FeedConfig(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic=settings.topic_prefix + SESSION_TOPIC,
            lookback=settings.revocation_lookback_s,
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
            fetch_max_wait_ms=settings.revocation_fetch_max_wait_ms,
        ),
    )


def _check_verifier(app: web.Application) -> None:
    """An app that installs its own verifier (identity reads its own keys, tests their minter's)
    must give it the process's revocations."""
    if VERIFIER in app and app[VERIFIER].revocations is not app[REVOCATIONS]:
        raise RuntimeError("the token verifier must be given the app's REVOCATIONS")


HTTP_CLIENT = web.AppKey("http_client", aiohttp.ClientSession)


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    app[HTTP_CLIENT] = aiohttp.ClientSession()
    yield
    await app[HTTP_CLIENT].close()


def _lazy_jwks(app: web.Application, url: str) -> KeySource:
    async def fetch() -> Mapping[str, Any]:
        return await jwks_source(url, app[HTTP_CLIENT])()

    return fetch


def _serve_json(document: Mapping[str, Any]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def serve_document(request: web.Request) -> web.Response:
        return web.json_response(document)

    return serve_document


@dataclass
class Running:
    """A service started by `start`: stop it with `stop()`; `tasks` are its relay and consumer."""

    service: Service
    runner: web.AppRunner
    tasks: list[asyncio.Task[None]]
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def stop(self) -> None:
        self.stopping.set()
        if self.service.consumer:
            self.service.consumer.stop()
        if self.service.relay:
            self.service.relay.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 15)
        await self.runner.cleanup()
        await self.service.pool.close()
        log.info("service stopped", service=self.service.spec.name)


async def start(
    spec: ServiceSpec, settings: ServiceSettings, *, configure: ApiSetup | None = None
) -> Running:
    """Start the roles the settings ask for; `configure` may adjust the app (tests swap the key set)."""
    service = await open_service(spec, settings)
    tasks: list[asyncio.Task[None]] = []
    try:
        relay = settings.role in ("all", "worker", "relay")
        consume = settings.role in ("all", "worker", "consumer") and bool(spec.handlers)
        if relay or consume:
            await _retry(
                "broker",
                lambda: ensure_topics(
                    settings.kafka_bootstrap_servers,
                    [settings.topic_prefix + t for t in [*spec.topics, *spec.handlers]],
                    settings.topic_partitions,
                    settings.topic_replication_factor,
                ),
            )
        if relay:
            service.relay = service.relay_for()
            tasks.append(asyncio.create_task(service.relay.run(), name="relay"))
        if consume:
            service.consumer = service.consumer_for()
            tasks.append(asyncio.create_task(service.consumer.run(), name="consumer"))
        stopping = asyncio.Event()
        if settings.role in ("all", "worker", "consumer"):
            for worker in spec.workers:
                tasks.append(asyncio.create_task(worker(service.pool, stopping), name=worker_name(worker)))
        app = build_app(service, with_api=settings.role in ("all", "api"))
        if configure is not None:
            configure(app)
        _check_verifier(app)
        runner = AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    except BaseException:
        for task in tasks:
            task.cancel()
        await service.pool.close()
        raise
    log.info("service started", service=spec.name, role=settings.role, port=settings.http_port)
    return Running(service, runner, tasks, stopping)


async def serve(spec: ServiceSpec, settings: ServiceSettings, stop: asyncio.Event) -> None:
    """Run until `stop` is set (or a worker task dies), then shut down in order."""
    running = await start(spec, settings)
    try:
        done = asyncio.create_task(stop.wait())
        finished, _ = await asyncio.wait([done, *running.tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in finished:
            if task is not done and task.exception():
                raise task.exception()  # type: ignore[misc]
    finally:
        await running.stop()


async def _dlq_command(spec: ServiceSpec, settings: ServiceSettings, args: argparse.Namespace) -> int:
    service = await open_service(spec, settings)
    try:
        if args.action == "list":
            for letter in await list_dead_letters(service.pool):
                print(json.dumps(letter.model_dump(mode="json")))
            return 0
        consumer = service.consumer_for()
        if args.action == "discard":
            await consumer.discard(args.id)
            print(f"dead letter {args.id} discarded")
            return 0
        result = await consumer.replay(args.id)
        print(json.dumps(result.__dict__))
        return 0 if result.failed_id is None else 1
    finally:
        await service.pool.close()


def main(spec: ServiceSpec, settings: ServiceSettings, argv: list[str] | None = None) -> None:
    """Command line of every service: `run` (default), `migrate`, `dlq list|replay ID|discard ID`."""
    parser = argparse.ArgumentParser(prog=f"python -m services.{spec.name}")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="serve the API and/or the workers (default)")
    run.add_argument("--role", choices=["all", "api", "worker", "relay", "consumer"], help="overrides ROLE")
    commands.add_parser("migrate", help="apply pending migrations and exit")
    dlq = commands.add_parser("dlq", help="dead letters: list, replay or discard")
    dlq.add_argument("action", choices=["list", "replay", "discard"])
    dlq.add_argument("id", type=int, nargs="?")
    args = parser.parse_args(argv)
    configure_logging(settings.log_level, settings.log_format)

    if args.command == "migrate":
        run_process(_migrate_only(spec, settings))
    elif args.command == "dlq":
        if args.action != "list" and args.id is None:
            parser.error("replay and discard need a dead letter id")
        sys.exit(run_process(_dlq_command(spec, settings, args)))
    else:
        if getattr(args, "role", None):
            settings = settings.model_copy(update={"role": args.role})
        run_process(_run_until_signalled(spec, settings))


def run_process(main: Coroutine[Any, Any, T]) -> T:
    """Run a service process's main coroutine on uvloop, the event loop in C of libuv: the same
    asyncio API, about a third less CPU per request and per event than the standard loop here."""
    return uvloop.run(main)


async def _migrate_only(spec: ServiceSpec, settings: ServiceSettings) -> None:
    service = await open_service(spec, settings)
    await service.pool.close()


async def _run_until_signalled(spec: ServiceSpec, settings: ServiceSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(spec, settings, stop)
