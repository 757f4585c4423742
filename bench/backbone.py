"""`make bench`: the event backbone's throughput and latency on this machine, printed and saved as JSON.

1. Backlog drain: 10,000 events committed while no relay runs, then one relay (its own process)
   publishes them and one consumer (its own process) applies them: events/s for each.
2. Latency: single events committed one at a time at a steady rate, measured from the commit's
   return to the consumer's effect row (both clocks are this machine's): p50/p95/p99/max.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from libs.common import outbox
from libs.common.db import create_pool, drop_service, migrate, provision_service, service_migrations
from libs.common.events import envelope
from libs.devstack.testing import Isolated, running_stack
from tests.backbone.conftest import ProbeProcess
from tests.backbone.probe import SPEC, ItemChanged

BACKLOG = 10_000
LATENCY_EVENTS = 600
LATENCY_RATE = 50  # events/s
RESULTS = Path("bench-results")


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


async def wait_for(pool: asyncpg.Pool, sql: str, target: int, timeout: float = 300) -> float:
    """Poll until `sql` returns at least `target`; return the monotonic time it did."""
    deadline = time.monotonic() + timeout
    while (await pool.fetchval(sql)) < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sql} did not reach {target}")
        await asyncio.sleep(0.01)
    return time.monotonic()


async def fresh(stack_admin: str, bootstrap: str, smtp: str, maildir: Path) -> tuple[Isolated, asyncpg.Pool]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    await provision_service(stack_admin, role=name, schema=name)
    isolated = Isolated(name, stack_admin, bootstrap, smtp, maildir)
    pool = await create_pool(isolated.database_url, name, max_size=8)
    async with pool.acquire() as conn:
        await migrate(conn, name, service_migrations(SPEC.folder))
    return isolated, pool


async def bench_backlog(isolated: Isolated, pool: asyncpg.Pool, tmp: Path) -> dict[str, float]:
    consumer = ProbeProcess.start(isolated, "consumer", tmp)
    await consumer.wait_ready()
    await asyncio.sleep(4)  # let the consumer join its group before the clock starts
    progress(f"committing a backlog of {BACKLOG} events")
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        for i in range(BACKLOG):
            key = f"k{i % 64}"
            event = ItemChanged(key=key, seq=i, written_at=now)
            await outbox.append(conn, ItemChanged.topic, envelope("probe", event, subject=key, tenant_id="b"))
    progress("draining it with one relay and one consumer")
    start = time.monotonic()
    relay = ProbeProcess.start(isolated, "relay", tmp)
    try:
        published = await wait_for(
            pool, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL", BACKLOG
        )
        applied = await wait_for(pool, "SELECT count(*) FROM effects", BACKLOG)
    finally:
        relay.kill()
        consumer.kill()
    # Rates over the working window (first to last row handled), which leaves out process start-up.
    window = await pool.fetchrow(
        "SELECT extract(epoch FROM max(published_at) - min(published_at)) AS relay,"
        " (SELECT count(*) FROM outbox WHERE published_at = (SELECT min(published_at) FROM outbox)) AS first,"
        " (SELECT extract(epoch FROM max(applied_at) - min(applied_at)) FROM effects) AS consumer FROM outbox"
    )
    assert window is not None
    return {
        "relay_events_per_s": (BACKLOG - window["first"]) / float(window["relay"]),
        "consumer_events_per_s": (BACKLOG - 1) / float(window["consumer"]),
        "relay_drain_with_startup_s": published - start,
        "consumer_drain_with_startup_s": applied - start,
    }


async def bench_latency(isolated: Isolated, pool: asyncpg.Pool, tmp: Path) -> dict[str, float]:
    relay, consumer = (
        ProbeProcess.start(isolated, "relay", tmp),
        ProbeProcess.start(isolated, "consumer", tmp),
    )
    await asyncio.gather(relay.wait_ready(), consumer.wait_ready())
    progress("warming up until the consumer owns its partitions and applies events")
    committed: dict[uuid.UUID, float] = {}
    try:
        for i in range(-40, 0):
            await write_one(pool, i, committed)
            await asyncio.sleep(0.05)
        await wait_for(pool, "SELECT count(*) FROM effects", 40, timeout=60)
        committed.clear()
        progress(f"committing {LATENCY_EVENTS} single events at {LATENCY_RATE}/s")
        next_at = time.time()
        for i in range(LATENCY_EVENTS):
            await asyncio.sleep(max(0.0, next_at - time.time()))
            next_at += 1 / LATENCY_RATE
            await write_one(pool, i, committed)
        await wait_for(pool, "SELECT count(*) FROM effects WHERE seq >= 0", LATENCY_EVENTS, timeout=60)
    finally:
        relay.kill()
        consumer.kill()
    rows = await pool.fetch(
        "SELECT e.event_id, extract(epoch FROM e.applied_at) AS applied,"
        " extract(epoch FROM o.published_at) AS published"
        " FROM effects e JOIN outbox o USING (event_id) WHERE e.seq >= 0"
    )
    applied = percentiles([(float(r["applied"]) - committed[r["event_id"]]) * 1000 for r in rows])
    published = percentiles([(float(r["published"]) - committed[r["event_id"]]) * 1000 for r in rows])
    return {**applied, **{f"published_{k}": v for k, v in published.items()}}


async def write_one(pool: asyncpg.Pool, seq: int, committed: dict[uuid.UUID, float]) -> None:
    key = f"k{seq % 16}"
    event = envelope(
        "probe", ItemChanged(key=key, seq=seq, written_at=datetime.now(UTC)), subject=key, tenant_id="b"
    )
    async with pool.acquire() as conn, conn.transaction():
        await outbox.append(conn, ItemChanged.topic, event)
    committed[event.id] = time.time()


def percentiles(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(sorted(values), n=100, method="inclusive")
    return {"p50_ms": cuts[49], "p95_ms": cuts[94], "p99_ms": cuts[98], "max_ms": max(values)}


async def run() -> dict[str, dict[str, float]]:
    tmp = RESULTS / "logs"
    tmp.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float]] = {}
    with running_stack() as stack:
        for label, bench in (("backlog", bench_backlog), ("latency", bench_latency)):
            isolated, pool = await fresh(
                stack.database_url, stack.kafka_bootstrap_servers, stack.smtp_url, stack.maildir
            )
            try:
                results[label] = await bench(isolated, pool, tmp)
            finally:
                await pool.close()
                await drop_service(stack.database_url, role=isolated.name, schema=isolated.name)
    return results


def main() -> None:
    print("Event backbone benchmark (embedded PostgreSQL, Tansu broker, relay and consumer as processes)")
    results = asyncio.run(run())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "backbone.json").write_text(json.dumps(results, indent=2))
    backlog, latency = results["backlog"], results["latency"]
    rows = [
        ("relay throughput, 10,000-event backlog", f"{backlog['relay_events_per_s']:,.0f} events/s"),
        ("consumer throughput (one process)", f"{backlog['consumer_events_per_s']:,.0f} events/s"),
        ("backlog applied, from relay process start", f"{backlog['consumer_drain_with_startup_s']:.1f} s"),
        (f"commit → applied latency at {LATENCY_RATE} events/s", ""),
        *[(f"  {p}", f"{latency[p + '_ms']:.1f} ms") for p in ("p50", "p95", "p99", "max")],
        ("of which commit → published by the relay", ""),
        *[(f"  {p}", f"{latency['published_' + p + '_ms']:.1f} ms") for p in ("p50", "p95", "p99", "max")],
    ]
    print()
    for label, value in rows:
        print(f"{label:<48}{value:>16}")
    print(f"\nsaved to {RESULTS / 'backbone.json'}")


if __name__ == "__main__":
    main()
