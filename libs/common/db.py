"""PostgreSQL access: a pool bound to one service's schema and role, provisioning and migrations."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog
from aiohttp import web

log = structlog.get_logger(__name__)

POOL = web.AppKey("pool", asyncpg.Pool)
"""The service's connection pool, on its aiohttp application."""

COMMON_MIGRATIONS = Path(__file__).parent / "migrations"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Errors that mean the database is unreachable or restarting, not that the work is wrong.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    # Raised on a connection the server dropped while idle (e.g. its shutdown notice arrived first).
    asyncpg.InternalClientError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)


def is_infrastructure_error(exc: BaseException) -> bool:
    """True when retrying later, unchanged, can succeed (connection lost, server restarting)."""
    return isinstance(exc, INFRASTRUCTURE_ERRORS)


def check_identifier(name: str) -> str:
    """Refuse anything but a plain lower-case SQL identifier (schemas and roles are interpolated)."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def url_for_role(admin_url: str, role: str) -> str:
    """The admin URL with another login role (dev and tests: trust authentication)."""
    parts = urlsplit(admin_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{role}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


_PROVISION = """
DO $$
BEGIN
    CREATE ROLE {role} LOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {role};
REVOKE ALL ON SCHEMA {schema} FROM PUBLIC;
"""


async def provision_service(admin_url: str, role: str, schema: str) -> None:
    """Create the service's login role and the schema it owns (dev and tests; a DBA does it in prod)."""
    conn = await asyncpg.connect(admin_url)
    try:
        # Role creation is cluster-wide: serialise concurrent starts of several services.
        await conn.execute("SELECT pg_advisory_lock(7151001)")
        await conn.execute(_PROVISION.format(role=check_identifier(role), schema=check_identifier(schema)))
    finally:
        await conn.close()


async def drop_service(admin_url: str, role: str, schema: str) -> None:
    """Remove a service's schema and role (tests)."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {check_identifier(schema)} CASCADE")
        await conn.execute(f"DROP ROLE IF EXISTS {check_identifier(role)}")
    finally:
        await conn.close()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release a connection to the pool as it is. asyncpg still rolls back an open transaction and
    drops listeners itself; its default reset adds a round trip (`RESET ALL; UNLISTEN *; CLOSE ALL;
    pg_advisory_unlock_all()`) on every release, i.e. on every request. Nothing here leaves session
    state behind: settings are per transaction (SET LOCAL / SET CONSTRAINTS), and the session advisory
    locks (relay leadership, migrations) are released in `finally` blocks of their own."""


async def create_pool(url: str, schema: str, *, max_size: int = 10, name: str = "") -> asyncpg.Pool:
    """A pool whose connections see the service's schema first and nothing they were not granted."""
    pool = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=max_size,
        server_settings={"search_path": check_identifier(schema), "application_name": name or schema},
        command_timeout=30,
        reset=_keep_session,
    )
    assert pool is not None
    return pool


@dataclass(frozen=True)
class Migration:
    """One forward-only SQL file; `name` is unique across the common and the service's own set."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def doorbell_channel(bell: str, schema: str) -> str:
    """The LISTEN/NOTIFY channel of one of a schema's doorbells: `pg_notify('comptoir_<bell>_' ||
    <schema>, '')` in a transaction rings it when that transaction commits."""
    return f"comptoir_{check_identifier(bell)}_{check_identifier(schema)}"


def _alive(conn: asyncpg.pool.PoolConnectionProxy) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # the pool took back a connection the server ended
        return False


class _Listening:
    """A connection of its own LISTENing on one channel, taken from the pool again after a loss."""

    def __init__(self, pool: asyncpg.Pool, channel: str) -> None:
        self._pool = pool
        self._channel = channel
        self._conn: asyncpg.pool.PoolConnectionProxy | None = None
        self._taking = asyncio.Lock()

    async def _listen(self) -> bool:
        """Listen unless already listening: True when it has just begun (what was announced while
        nobody listened is unknown: look once), False when listening or the database is away."""
        async with self._taking:
            if self._conn is not None and _alive(self._conn):
                return False
            await self.close()
            try:
                conn = await self._pool.acquire()
            except INFRASTRUCTURE_ERRORS:
                return False
            try:
                await conn.add_listener(self._channel, self._heard)
            except BaseException as exc:
                with contextlib.suppress(*INFRASTRUCTURE_ERRORS):
                    await self._pool.release(conn, timeout=5)
                if is_infrastructure_error(exc):
                    return False
                raise
            self._conn = conn
            return True

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(*INFRASTRUCTURE_ERRORS):
                if not conn.is_closed():
                    await conn.remove_listener(self._channel, self._heard)
                await self._pool.release(conn, timeout=5)

    def _heard(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        raise NotImplementedError


class Doorbell(_Listening):
    """Wakes a polling worker as soon as a transaction that rang its channel commits.

    The worker still polls: the doorbell only shortens the wait. `wait` listens on a connection of
    its own, taken again after a loss; while it has none, it just waits out the timeout. Rings that
    arrive while the worker is busy are kept, so the next `wait` returns at once.
    """

    def __init__(self, pool: asyncpg.Pool, channel: str) -> None:
        super().__init__(pool, channel)
        self._rung = asyncio.Event()

    async def wait(self, timeout: float, stopping: asyncio.Event) -> None:
        """Until the doorbell rings, `stopping` is set or `timeout` seconds pass."""
        if await self._listen():
            self._rung.set()  # what was rung while nobody listened: look once
        waiters = [asyncio.ensure_future(self._rung.wait()), asyncio.ensure_future(stopping.wait())]
        _, pending = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()
        self._rung.clear()

    def _heard(self, *_: object) -> None:
        self._rung.set()


T = TypeVar("T")


class Announcements(_Listening):
    """Wakes the requests waiting on one thing (an order, by its id) as soon as a transaction that
    announced it commits: a long poll that does not poll.

    The transaction that changes the thing calls `announce` (or rings the channel in its own SQL:
    `pg_notify('comptoir_<topic>_' || current_schema(), <key>)`); a request calls `until`, which
    looks again each time the key is announced. Without a listening connection (the database away),
    it looks again every `recheck_s`; a look is always what decides, never the announcement.
    """

    def __init__(self, pool: asyncpg.Pool, topic: str, schema: str, *, recheck_s: float = 1.0) -> None:
        super().__init__(pool, doorbell_channel(topic, schema))
        self._recheck_s = recheck_s
        self._waiting: dict[str, set[asyncio.Event]] = {}

    @staticmethod
    async def announce(conn: asyncpg.Connection, topic: str, key: str) -> None:
        """In the transaction that changes it: wake who waits on `key` when it commits."""
        await conn.execute(
            "SELECT pg_notify('comptoir_' || $1::text || '_' || current_schema(), $2::text)",
            check_identifier(topic),
            key,
        )

    async def until(
        self, key: str, look: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float
    ) -> T:
        """What `look` finds once `done` with it, or after `timeout` seconds, whichever comes first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        woken = asyncio.Event()
        self._waiting.setdefault(key, set()).add(woken)
        try:
            while True:
                await self._listen()
                woken.clear()  # before looking: an announcement during the look is not missed
                found = await look()
                remaining = deadline - loop.time()
                if done(found) or remaining <= 0:
                    return found
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), min(remaining, self._recheck_s))
        finally:
            waiters = self._waiting.get(key, set())
            waiters.discard(woken)
            if not waiters:
                self._waiting.pop(key, None)

    def _heard(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        for woken in self._waiting.get(payload, ()):
            woken.set()


def load_migrations(*sources: tuple[str, Path]) -> list[Migration]:
    """Read `NNNN_name.sql` files from each (namespace, folder), in the order given, then by name."""
    found: list[Migration] = []
    for namespace, folder in sources:
        for path in sorted(folder.glob("*.sql")):
            found.append(Migration(f"{namespace}/{path.name}", path.read_text()))
    return found


class MigrationError(RuntimeError):
    """An applied migration was edited, or a migration failed."""


_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


async def migrate(conn: asyncpg.Connection, schema: str, migrations: Sequence[Migration]) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction; return their names.

    A session advisory lock makes replicas that start together take turns: the second one finds
    everything applied and does nothing.
    """
    lock_key = f"comptoir.migrations.{check_identifier(schema)}"
    await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", lock_key)
    try:
        await conn.execute(_MIGRATIONS_TABLE)
        applied = {
            r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")
        }
        done: list[str] = []
        for migration in migrations:
            if migration.name in applied:
                if applied[migration.name] != migration.checksum:
                    raise MigrationError(f"{migration.name} was edited after it was applied")
                continue
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                        migration.name,
                        migration.checksum,
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"{migration.name} failed: {exc}") from exc
            log.info("migration applied", migration=migration.name, schema=schema)
            done.append(migration.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", lock_key)


def service_migrations(service_folder: Path, extra: Iterable[tuple[str, Path]] = ()) -> list[Migration]:
    """The common tables (outbox, inbox, dead letters) first, then the service's own folder."""
    return load_migrations(("common", COMMON_MIGRATIONS), *extra, ("service", service_folder / "migrations"))
