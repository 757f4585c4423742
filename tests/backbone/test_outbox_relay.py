"""The outbox and its relay: what commits is published, in order per key, even across crashes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from libs.common import outbox
from libs.common.events import Envelope, envelope
from libs.devstack.testing import Isolated
from tests.backbone.conftest import (
    ProbeProcess,
    effect_counts,
    wait_for_effects,
    wait_until,
    write_events,
)
from tests.backbone.probe import SPEC, TOPIC, ItemChanged


async def read_topic(isolated: Isolated, expected: int, timeout: float = 30) -> list[Envelope]:
    """Every message of the probe topic, per partition in offset order, once `expected` are there."""
    consumer = AIOKafkaConsumer(
        isolated.topic_prefix + TOPIC,
        bootstrap_servers=isolated.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    messages: list[Envelope] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(messages) < expected and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                messages.extend(Envelope.model_validate_json(r.value or b"") for r in records)
    finally:
        await consumer.stop()
    return messages


def first_occurrences_per_key(messages: list[Envelope]) -> dict[str, list[int]]:
    """Per key, the seq of each event the first time it appears (what an inbox would apply)."""
    seen: set[str] = set()
    per_key: dict[str, list[int]] = {}
    for msg in messages:
        if str(msg.id) in seen:
            continue
        seen.add(str(msg.id))
        per_key.setdefault(msg.subject, []).append(msg.data["seq"])
    return per_key


async def test_rolled_back_event_is_never_published_and_committed_one_is(
    isolated: Isolated, probe_db: asyncpg.Pool, probes: Callable[..., ProbeProcess]
) -> None:
    async with probe_db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        rolled_back = ItemChanged(key="a", seq=1, written_at=datetime.now(UTC))
        await outbox.append(conn, TOPIC, envelope("probe", rolled_back, subject="a", tenant_id="t1"))
        await tx.rollback()
    await write_events(probe_db, [("a", 2)])
    probes("relay")

    messages = await read_topic(isolated, expected=1)
    await asyncio.sleep(0.5)  # a late, wrong publication would show up in a second read
    messages = await read_topic(isolated, expected=2, timeout=1)

    assert [(m.subject, m.data["seq"]) for m in messages] == [("a", 2)]


async def test_append_outside_a_transaction_is_refused(probe_db: asyncpg.Pool) -> None:
    event = envelope(
        "probe", ItemChanged(key="a", seq=1, written_at=datetime.now(UTC)), subject="a", tenant_id="t"
    )
    async with probe_db.acquire() as conn:
        with pytest.raises(RuntimeError, match="transaction"):
            await outbox.append(conn, TOPIC, event)


@pytest.mark.slow
async def test_two_relays_keep_per_key_order_over_1000_events(
    isolated: Isolated, probe_db: asyncpg.Pool, probes: Callable[..., ProbeProcess]
) -> None:
    first, second = probes("relay", outbox_batch_size=50), probes("relay", outbox_batch_size=50)
    await asyncio.gather(first.wait_ready(), second.wait_ready())
    keys = [f"k{i}" for i in range(8)]

    def writers(seqs: range) -> list[Awaitable[None]]:
        return [write_events(probe_db, [(key, seq) for seq in seqs]) for key in keys]

    await asyncio.gather(*writers(range(60)))
    first.kill()  # whichever relay leads, the other one must carry on in order
    await asyncio.gather(*writers(range(60, 125)))
    messages = await read_topic(isolated, expected=1000)

    assert len({m.id for m in messages}) == 1000
    assert first_occurrences_per_key(messages) == {key: list(range(125)) for key in keys}
    unpublished = await probe_db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    assert unpublished == 0


@pytest.mark.slow
async def test_relay_killed_between_publishing_and_marking_publishes_again_and_effects_stay_single(
    isolated: Isolated, probe_db: asyncpg.Pool, probes: Callable[..., ProbeProcess]
) -> None:
    consumer = probes("consumer")
    await write_events(probe_db, [(f"k{i % 5}", i) for i in range(50)])
    # Hold the outbox rows: the relay publishes them, then blocks on marking them published.
    async with probe_db.acquire() as holder:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT id FROM outbox FOR UPDATE")
        relay = probes("relay")
        await wait_for_effects(probe_db, 50)  # published and applied, yet not marked
        relay.kill()
        # The killed relay's UPDATE still waits on our lock: end it as the crash would have.
        await holder.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE usename = current_user AND wait_event_type = 'Lock'"
        )
        await tx.rollback()
    assert await probe_db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 50

    probes("relay")
    messages = await read_topic(isolated, expected=100)
    await wait_until(lambda: _none_unpublished(probe_db), timeout=30, what="the new relay to mark the rows")
    await asyncio.sleep(1)  # let the consumer meet the duplicates

    assert len(messages) == 100  # every event went out twice
    assert await effect_counts(probe_db) == (50, 50)  # and was applied once
    assert consumer.proc.poll() is None


async def _none_unpublished(pool: asyncpg.Pool) -> bool:
    return await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


@pytest.mark.slow
async def test_relay_publishes_within_milliseconds_of_commit(
    isolated: Isolated, probe_db: asyncpg.Pool, probes: Callable[..., ProbeProcess]
) -> None:
    """The doorbell wakes the relay; with a 10 s poll, only the doorbell can deliver in time."""
    relay = probes("relay", outbox_poll_interval_s=10)
    await relay.wait_ready()
    await asyncio.sleep(1.5)  # the relay is idle, waiting on its doorbell
    await write_events(probe_db, [("a", 1)])
    messages = await read_topic(isolated, expected=1, timeout=5)
    assert [m.data["seq"] for m in messages] == [1]


async def test_spec_declares_the_probe_topic_and_its_dead_letter_topic() -> None:
    assert SPEC.topics == ["internal.probe.item.v1.dlq", "probe.item.v1"]
