"""Migrations and the per-service role and schema."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from libs.common.db import (
    Announcements,
    Migration,
    MigrationError,
    create_pool,
    drop_service,
    load_migrations,
    migrate,
    provision_service,
    url_for_role,
)
from libs.devstack.testing import Isolated


def _migrations(tmp_path: Path) -> list[Migration]:
    folder = tmp_path / "migrations"
    folder.mkdir(exist_ok=True)
    (folder / "0001_items.sql").write_text("CREATE TABLE items (id int PRIMARY KEY);")
    (folder / "0002_more.sql").write_text(
        "ALTER TABLE items ADD COLUMN name text; SELECT pg_sleep(0.2); INSERT INTO items VALUES (1, 'one');"
    )
    return load_migrations(("service", folder))


async def test_migrations_applied_twice_are_a_no_op(
    isolated: Isolated, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    migrations = _migrations(tmp_path)
    async with pool.acquire() as conn:
        assert await migrate(conn, isolated.name, migrations) == [
            "service/0001_items.sql",
            "service/0002_more.sql",
        ]
        assert await migrate(conn, isolated.name, migrations) == []
    assert await pool.fetchval("SELECT count(*) FROM items") == 1


async def test_two_runners_at_once_apply_each_file_once(isolated: Isolated, tmp_path: Path) -> None:
    migrations = _migrations(tmp_path)
    conns = [
        await asyncpg.connect(isolated.database_url, server_settings={"search_path": isolated.name})
        for _ in range(2)
    ]
    try:
        applied = await asyncio.gather(*(migrate(conn, isolated.name, migrations) for conn in conns))
    finally:
        for conn in conns:
            await conn.close()

    assert sorted(applied, key=len) == [[], ["service/0001_items.sql", "service/0002_more.sql"]]
    pool = await create_pool(isolated.database_url, isolated.name)
    try:
        assert await pool.fetchval("SELECT count(*) FROM items") == 1  # 0002's insert ran once
        assert await pool.fetchval("SELECT count(*) FROM schema_migrations") == 2
    finally:
        await pool.close()


async def test_editing_an_applied_migration_is_refused(
    isolated: Isolated, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    migrations = _migrations(tmp_path)
    async with pool.acquire() as conn:
        await migrate(conn, isolated.name, migrations)
        edited = [migrations[0], Migration(migrations[1].name, migrations[1].sql + " -- edited")]
        with pytest.raises(MigrationError, match="edited"):
            await migrate(conn, isolated.name, edited)


async def test_failing_migration_leaves_nothing_half_applied(
    isolated: Isolated, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("CREATE TABLE ok (id int);")
    (folder / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT * FROM no_such_table;")
    async with pool.acquire() as conn:
        with pytest.raises(MigrationError, match="0002_bad"):
            await migrate(conn, isolated.name, load_migrations(("service", folder)))
    assert await pool.fetchval("SELECT to_regclass('half')") is None
    assert await pool.fetchval("SELECT to_regclass('ok')") is not None
    assert await pool.fetchval("SELECT count(*) FROM schema_migrations") == 1


async def test_a_service_role_cannot_read_another_services_schema(
    isolated: Isolated, pool: asyncpg.Pool
) -> None:
    await pool.execute("CREATE TABLE secrets (value text); INSERT INTO secrets VALUES ('mine')")
    other = f"{isolated.name}_other"
    await provision_service(isolated.admin_url, role=other, schema=other)
    try:
        intruder = await asyncpg.connect(url_for_role(isolated.admin_url, other))
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await intruder.fetch(f"SELECT * FROM {isolated.name}.secrets")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await intruder.execute(f"CREATE TABLE {isolated.name}.planted (id int)")
        finally:
            await intruder.close()
    finally:
        await drop_service(isolated.admin_url, role=other, schema=other)


async def test_provisioning_twice_at_once_is_harmless(isolated: Isolated) -> None:
    name = f"{isolated.name}_twice"
    try:
        await asyncio.gather(
            *(provision_service(isolated.admin_url, role=name, schema=name) for _ in range(3))
        )
        conn = await asyncpg.connect(url_for_role(isolated.admin_url, name))
        try:
            assert (
                await conn.fetchval(
                    "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1", name
                )
                == name
            )
        finally:
            await conn.close()
    finally:
        await drop_service(isolated.admin_url, role=name, schema=name)


@pytest.mark.filterwarnings("ignore:.*active notification listener:asyncpg.InterfaceWarning")
async def test_a_connection_comes_back_from_the_pool_without_its_transaction_or_listeners(
    pool: asyncpg.Pool,
) -> None:
    """The pool skips asyncpg's reset query: what a handler may leave behind must still go."""
    async with pool.acquire() as conn:
        await conn.execute("BEGIN")  # a handler that failed before COMMIT
        await conn.execute("CREATE TEMP TABLE scratch (id int)")
        await conn.add_listener("some_channel", lambda *_: None)
        backend = await conn.fetchval("SELECT pg_backend_pid()")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT pg_backend_pid()") == backend  # the same connection
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT to_regclass('pg_temp.scratch')") is None  # rolled back
        assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0


# --- announcements: a request waits on one thing until a transaction that changed it commits ---


def _done(state: str) -> bool:
    return state == "done"


async def _thing(pool: asyncpg.Pool) -> Callable[[str], Awaitable[str]]:
    await pool.execute("CREATE TABLE things (id text PRIMARY KEY, state text NOT NULL)")
    await pool.execute("INSERT INTO things VALUES ('a', 'waiting'), ('b', 'waiting')")

    async def state(key: str) -> str:
        return str(await pool.fetchval("SELECT state FROM things WHERE id = $1", key))

    return state


@contextlib.asynccontextmanager
async def _watching(
    isolated: Isolated, pool: asyncpg.Pool, recheck_s: float
) -> AsyncIterator[tuple[Callable[[str], Awaitable[str]], Announcements]]:
    """The things' table, and announcements of them looked at again every `recheck_s` at least."""
    state = await _thing(pool)
    announcements = Announcements(pool, "thing", isolated.name, recheck_s=recheck_s)
    try:
        yield state, announcements
    finally:
        await announcements.close()


async def _change(pool: asyncpg.Pool, key: str, *, before_commit: asyncio.Event | None = None) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE things SET state = 'done' WHERE id = $1", key)
        await Announcements.announce(conn, "thing", key)
        if before_commit is not None:
            await before_commit.wait()


async def test_a_waiter_looks_again_when_its_key_is_announced_and_sees_the_change_once_committed(
    isolated: Isolated, pool: asyncpg.Pool
) -> None:
    # Looking again only on an announcement (a recheck after a minute): the test's timeout says
    # the announcement woke it.
    looks: list[str] = []
    looked = asyncio.Event()

    async def look() -> str:
        looks.append(await state("a"))
        looked.set()
        return looks[-1]

    async with _watching(isolated, pool, recheck_s=60) as (state, announcements):
        waiting = asyncio.create_task(announcements.until("a", look, _done, timeout=60))
        await looked.wait()
        await _change(pool, "b")  # another thing's announcement: a look, nothing more
        commit = asyncio.Event()
        changing = asyncio.create_task(_change(pool, "a", before_commit=commit))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # not committed: nothing announced yet
        commit.set()
        await changing
        assert await asyncio.wait_for(waiting, timeout=10) == "done"
        assert looks[0] == "waiting" and looks[-1] == "done"
        assert len(looks) <= 3  # the first look, at most one for b (same channel), the one for a


async def test_a_waiter_answers_what_it_sees_after_its_timeout(
    isolated: Isolated, pool: asyncpg.Pool
) -> None:
    async with _watching(isolated, pool, recheck_s=0.05) as (state, announcements):
        found = await announcements.until("a", lambda: state("a"), _done, timeout=0.3)
        assert found == "waiting"
        await _change(pool, "a")
        assert await announcements.until("a", lambda: state("a"), _done, timeout=5) == "done"


async def test_a_waiter_whose_listening_connection_is_lost_still_sees_the_change(
    isolated: Isolated, pool: asyncpg.Pool
) -> None:
    async with _watching(isolated, pool, recheck_s=0.1) as (state, announcements):
        assert await announcements.until("a", lambda: state("a"), _done, timeout=0) == "waiting"
        listeners = await pool.fetch(
            "SELECT pid FROM pg_stat_activity WHERE usename = $1 AND query LIKE 'LISTEN%'", isolated.name
        )
        assert len(listeners) == 1
        await pool.execute("SELECT pg_terminate_backend($1)", listeners[0]["pid"])
        waiting = asyncio.create_task(announcements.until("a", lambda: state("a"), _done, timeout=30))
        await asyncio.sleep(0.3)
        await _change(pool, "a")
        assert await asyncio.wait_for(waiting, timeout=10) == "done"
