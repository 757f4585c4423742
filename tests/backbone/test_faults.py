"""Real faults on a private stack: the database stopped, the broker restarted empty or frozen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import asyncpg
import pytest

from libs.common.consumer import list_dead_letters
from libs.common.db import is_infrastructure_error
from libs.common.settings import ServiceSettings
from libs.devstack.stack import LocalStack
from libs.devstack.testing import running_stack
from tests.backbone.conftest import (
    ProbeProcess,
    applied_sequences,
    effect_counts,
    event_id,
    wait_for_effects,
    wait_until,
    write_events,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    """Overrides the shared stack: each test here breaks a PostgreSQL and a broker of its own."""
    with running_stack(use_environ=False) as private:
        yield private


class Writer:
    """Commits events for several keys at a steady pace, retrying while the database is away."""

    def __init__(self, pool: asyncpg.Pool, keys: int, per_second: float) -> None:
        self.pool = pool
        self.keys = [f"k{i}" for i in range(keys)]
        self.interval = 1 / per_second
        self.committed: dict[str, int] = dict.fromkeys(self.keys, 0)
        self.failures = 0

    @property
    def total(self) -> int:
        return sum(self.committed.values())

    async def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        i = 0
        while time.monotonic() < deadline:
            key = self.keys[i % len(self.keys)]
            try:
                # After a failure the commit may have landed all the same: look before writing again.
                if not await self.pool.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM outbox WHERE event_id = $1)",
                    event_id(key, self.committed[key]),
                ):
                    await write_events(self.pool, [(key, self.committed[key])])
            except Exception as exc:
                if not is_infrastructure_error(exc):
                    raise
                self.failures += 1  # not committed: the same seq is tried again
                await asyncio.sleep(0.1)
                continue
            self.committed[key] += 1
            i += 1
            await asyncio.sleep(self.interval)

    def expected_sequences(self) -> dict[str, list[int]]:
        return {key: list(range(n)) for key, n in self.committed.items() if n}


async def assert_each_applied_once(pool: asyncpg.Pool, writer: Writer) -> None:
    await wait_for_effects(pool, writer.total, timeout=90)
    await asyncio.sleep(1.5)  # duplicates, if any, arrive by now
    assert await effect_counts(pool) == (writer.total, writer.total)
    assert await applied_sequences(pool) == writer.expected_sequences()
    assert await list_dead_letters(pool) == []


async def test_database_stopped_under_load_dead_letters_nothing_and_applies_everything_once(
    stack: LocalStack, probe_db: asyncpg.Pool, probes: Callable[..., ProbeProcess]
) -> None:
    for probe in (probes("relay"), probes("consumer")):
        await probe.wait_ready()
    writer = Writer(probe_db, keys=6, per_second=100)
    writing = asyncio.create_task(writer.run(seconds=8))
    await asyncio.sleep(2)

    assert stack.postgres is not None
    stack.postgres.stop()
    await asyncio.sleep(3)
    stack.postgres.start()
    await writing

    assert writer.failures > 0, "the outage should have been felt by the writer"
    await assert_each_applied_once(probe_db, writer)


async def test_broker_restarted_empty_gets_the_retained_outbox_again_and_no_effect_doubles(
    stack: LocalStack, probe_db: asyncpg.Pool, probes: Callable[..., ProbeProcess]
) -> None:
    relay, consumer = probes("relay"), probes("consumer")
    await asyncio.gather(relay.wait_ready(), consumer.wait_ready())
    writer = Writer(probe_db, keys=4, per_second=200)
    await writer.run(seconds=1.5)
    await wait_for_effects(probe_db, writer.total)
    before = writer.total

    assert stack.broker is not None
    restarted_at = await probe_db.fetchval("SELECT now()")
    stack.broker.restart()  # the local broker keeps nothing: topics, messages and offsets are gone
    await writer.run(seconds=1.5)

    await assert_each_applied_once(probe_db, writer)
    assert writer.total > before
    published_again = await probe_db.fetchval(
        "SELECT count(*) FROM outbox WHERE published_at > $1", restarted_at
    )
    assert published_again == writer.total, "every retained row should have been published again"


async def test_broker_frozen_for_10s_while_writing_loses_nothing_and_doubles_nothing(
    stack: LocalStack, probe_db: asyncpg.Pool, probes: Callable[..., ProbeProcess]
) -> None:
    # Two consumers share the group, as when a worker Deployment is scaled out, with the session
    # timeout of production (the tests' shorter one is evicted by a 10 s freeze).
    session = ServiceSettings.model_fields["consumer_session_timeout_ms"].default
    consumers = [probes("consumer", consumer_session_timeout_ms=session) for _ in range(2)]
    processes = [probes("relay"), *consumers]
    await asyncio.gather(*(process.wait_ready() for process in processes))
    writer = Writer(probe_db, keys=6, per_second=100)  # keys in partitions 0 and 1: one per member
    # Measure from a settled group: two members joining start with a rebalance of their own, and only
    # once it is over do both apply events.
    deadline = time.monotonic() + 60
    while await probe_db.fetchval("SELECT count(DISTINCT pid) FROM effects") < 2:
        assert time.monotonic() < deadline, "both consumers should own partitions"
        await writer.run(seconds=0.5)
    writing = asyncio.create_task(writer.run(seconds=14))
    await asyncio.sleep(1)

    assert stack.broker is not None
    stack.broker.pause()
    paused_at = writer.total
    await asyncio.sleep(10)
    stack.broker.resume()
    resumed_at = await probe_db.fetchval("SELECT clock_timestamp()")
    backlog = writer.total  # committed while the broker was away, or before
    await wait_for_effects(probe_db, backlog, timeout=60)
    caught_up = await probe_db.fetchval("SELECT clock_timestamp() - $1", resumed_at)
    published, applied, stall = await probe_db.fetchrow(
        "SELECT (SELECT min(published_at) FROM outbox WHERE published_at > $1) - $1,"
        " (SELECT min(applied_at) FROM effects WHERE applied_at > $1) - $1,"
        " (SELECT max(gap) FROM (SELECT applied_at - lag(applied_at) OVER (ORDER BY applied_at) AS gap"
        "  FROM effects WHERE applied_at > $1) AS gaps)",
        resumed_at,
    )
    print(
        f"\nbroker frozen 10 s, {backlog - paused_at} events committed meanwhile; after its return: first"
        f" publish in {published.total_seconds():.2f} s,"
        f" first event applied in {applied.total_seconds():.2f} s,"
        f" longest pause between two applied events {stall.total_seconds():.2f} s, backlog applied in"
        f" {caught_up.total_seconds():.2f} s"
    )
    await writing

    assert writer.total > paused_at + 500, "events kept being committed while the broker was frozen"
    await assert_each_applied_once(probe_db, writer)
    # Consumers resume within 3 s of the broker's return (measured: under a second). A member evicted
    # during the freeze breaks it: the group rebalances, and the local broker holds every join for half
    # the session timeout (5 s with a 10 s session, which a 10 s freeze outlasts).
    assert applied.total_seconds() < 3 and stall.total_seconds() < 3


async def test_broker_restarted_empty_while_idle_gets_the_retained_outbox_without_new_writes(
    stack: LocalStack, probe_db: asyncpg.Pool, probes: Callable[..., ProbeProcess]
) -> None:
    relay = probes("relay", outbox_idle_broker_check_s=1)
    await relay.wait_ready()
    await write_events(probe_db, [(f"k{i % 3}", i) for i in range(30)])
    await wait_until(lambda: _all_published(probe_db), what="the outbox to be published")
    restarted_at = await probe_db.fetchval("SELECT now()")

    assert stack.broker is not None
    stack.broker.restart()
    consumer = probes("consumer")  # a consumer arriving on the empty broker still gets everything

    await wait_for_effects(probe_db, 30)
    assert await effect_counts(probe_db) == (30, 30)
    assert await probe_db.fetchval("SELECT count(*) FROM outbox WHERE published_at > $1", restarted_at) == 30
    assert consumer.proc.poll() is None


async def _all_published(pool: asyncpg.Pool) -> bool:
    return await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
