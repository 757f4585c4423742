"""Consumers: each event applied once, partitions shared, poison messages parked and replayed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import pytest
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from libs.common import outbox
from libs.common.consumer import ConsumerConfig, EventConsumer, list_dead_letters
from libs.common.events import Envelope, envelope
from libs.common.kafka import dlq_topic
from libs.common.logging import bind_correlation
from libs.devstack.testing import Isolated
from tests.backbone.conftest import (
    ROOT,
    ProbeProcess,
    applied_sequences,
    effect_counts,
    wait_for_effects,
    wait_until,
    write_events,
)
from tests.backbone.probe import TOPIC, ItemChanged


async def test_same_event_delivered_twice_is_applied_once(
    isolated: Isolated, probe_db: asyncpg.Pool, probes: Callable[..., ProbeProcess]
) -> None:
    event = envelope(
        "probe", ItemChanged(key="a", seq=1, written_at=datetime.now(UTC)), subject="a", tenant_id="t"
    )
    other = envelope(
        "probe", ItemChanged(key="a", seq=2, written_at=datetime.now(UTC)), subject="a", tenant_id="t"
    )
    producer = AIOKafkaProducer(bootstrap_servers=isolated.bootstrap_servers)
    await producer.start()
    try:
        for message in (event, event, other, event):
            await producer.send_and_wait(isolated.topic_prefix + TOPIC, message.to_bytes(), key=b"a")
    finally:
        await producer.stop()
    probes("consumer")

    await wait_for_effects(probe_db, 2)
    await asyncio.sleep(0.5)  # a second application of `event` would land by now

    assert await effect_counts(probe_db) == (2, 2)
    assert await applied_sequences(probe_db) == {"a": [1, 2]}


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
async def test_two_consumers_split_partitions_and_losing_one_mid_stream_loses_and_repeats_nothing(
    isolated: Isolated, probe_db: asyncpg.Pool, probes: Callable[..., ProbeProcess], stop: str
) -> None:
    probes("relay")
    # A short session timeout so that the group notices a SIGKILLed member quickly.
    first = probes("consumer", consumer_session_timeout_ms=3000)
    second = probes("consumer", consumer_session_timeout_ms=3000)
    await asyncio.gather(first.wait_ready(), second.wait_ready())
    keys = [f"k{i}" for i in range(16)]

    async def write(seqs: range) -> None:
        await asyncio.gather(*(write_events(probe_db, [(k, s) for s in seqs]) for k in keys))

    await write(range(20))
    await wait_for_effects(probe_db, 320)
    pids = {row["pid"] for row in await probe_db.fetch("SELECT DISTINCT pid FROM effects")}
    assert pids == {first.proc.pid, second.proc.pid}, "both members should own partitions"

    writing = asyncio.create_task(write(range(20, 60)))
    await asyncio.sleep(0.3)
    if stop == "SIGKILL":
        first.kill()
    else:
        assert first.terminate() == 0
    await writing
    await wait_for_effects(probe_db, 16 * 60, timeout=60)

    assert await effect_counts(probe_db) == (960, 960)
    assert await applied_sequences(probe_db) == {k: list(range(60)) for k in keys}


async def _dlq_messages(isolated: Isolated, expected: int) -> list[tuple[bytes | None, dict[str, str]]]:
    consumer = AIOKafkaConsumer(
        isolated.topic_prefix + dlq_topic(TOPIC),
        bootstrap_servers=isolated.bootstrap_servers,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    found: list[tuple[bytes | None, dict[str, str]]] = []
    try:
        for _ in range(100):
            for records in (await consumer.getmany(timeout_ms=100)).values():
                found.extend((r.key, {k: v.decode() for k, v in r.headers}) for r in records)
            if len(found) >= expected:
                break
    finally:
        await consumer.stop()
    return found


def probe_cli(isolated: Isolated, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.backbone.probe", *args],
        cwd=ROOT,
        env=isolated.environ("probe"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
async def test_failing_event_is_dead_lettered_other_keys_move_on_and_replay_applies_it_then_the_waiting_ones(
    isolated: Isolated,
    probe_db: asyncpg.Pool,
    probes: Callable[..., ProbeProcess],
    switch: Callable[[str, bool], Awaitable[None]],
) -> None:
    # One partition, so that the failing key shares it with every other key.
    probes("worker", topic_partitions=1, consumer_max_attempts=3)
    await switch("fixed", False)
    await write_events(
        probe_db, [(k, s) for s in range(1, 6) for k in ("bad", "good1", "good2")], fail={("bad", 3)}
    )

    await wait_for_effects(probe_db, 12)  # 2 of "bad", 5 each of the good keys
    await wait_until(
        lambda: _dead_letter_count(probe_db, 3), what="the failing event and the two behind it to be parked"
    )
    assert await applied_sequences(probe_db) == {
        "bad": [1, 2],
        "good1": [1, 2, 3, 4, 5],
        "good2": [1, 2, 3, 4, 5],
    }
    letters = await list_dead_letters(probe_db)
    assert [(d.key, d.status) for d in letters] == [("bad", "dead"), ("bad", "waiting"), ("bad", "waiting")]
    assert "probe refuses bad#3" in (letters[0].error or "")
    assert letters[0].attempts == 3
    dlq = await _dlq_messages(isolated, expected=1)
    assert len(dlq) == 1 and dlq[0][0] == b"bad"
    assert "probe refuses bad#3" in dlq[0][1]["dlq-error"]
    assert dlq[0][1]["dlq-topic"] == TOPIC

    # A later event of the parked key waits too, while other keys still flow.
    await write_events(probe_db, [("bad", 6), ("good1", 6)])
    await wait_for_effects(probe_db, 13)
    await wait_until(lambda: _dead_letter_count(probe_db, 4), what="bad#6 to wait behind the dead letter")

    listed = probe_cli(isolated, "dlq", "list")
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["status"] for line in listed.stdout.splitlines()] == [
        "dead",
        "waiting",
        "waiting",
        "waiting",
    ]

    failed_again = probe_cli(isolated, "dlq", "replay", str(letters[0].id))
    assert failed_again.returncode == 1  # the cause is not fixed yet: nothing moves
    assert await _dead_letter_count(probe_db, 4)

    await switch("fixed", True)
    replayed = probe_cli(isolated, "dlq", "replay", str(letters[0].id))
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["applied"] == 4

    assert await _dead_letter_count(probe_db, 0)
    assert (await applied_sequences(probe_db))["bad"] == [1, 2, 3, 4, 5, 6]
    # Unparked: the next event of the key goes straight through.
    await write_events(probe_db, [("bad", 7)])
    await wait_for_effects(probe_db, 18)
    assert (await applied_sequences(probe_db))["bad"] == [1, 2, 3, 4, 5, 6, 7]
    assert await effect_counts(probe_db) == (18, 18)


async def _dead_letter_count(pool: asyncpg.Pool, expected: int) -> bool:
    return await pool.fetchval("SELECT count(*) FROM dead_letters") == expected


async def test_malformed_message_is_dead_lettered_without_retries_and_others_flow(
    isolated: Isolated, probe_db: asyncpg.Pool, probes: Callable[..., ProbeProcess]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=isolated.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(isolated.topic_prefix + TOPIC, b"{not json", key=b"x")
    finally:
        await producer.stop()
    probes("worker", topic_partitions=1)
    await write_events(probe_db, [("y", 1)])

    await wait_for_effects(probe_db, 1)
    await wait_until(
        lambda: _dead_letter_count(probe_db, 1), what="the malformed message to be dead-lettered"
    )
    letters = await list_dead_letters(probe_db)
    assert letters[0].key == "x" and letters[0].attempts == 1
    assert "not a valid CloudEvent" in (letters[0].error or "")


async def test_events_emitted_by_a_handler_carry_the_correlation_and_cause_of_the_event_applied(
    isolated: Isolated, probe_db: asyncpg.Pool
) -> None:
    async def react(conn: asyncpg.Connection, event: Envelope) -> None:
        reaction = ItemChanged(key="reaction", seq=0, written_at=datetime.now(UTC))
        await outbox.append(
            conn, "probe.reaction.v1", envelope("probe", reaction, subject="r", tenant_id="t")
        )

    bind_correlation("journey-42")
    cause = envelope(
        "probe", ItemChanged(key="a", seq=1, written_at=datetime.now(UTC)), subject="a", tenant_id="t"
    )
    structlog.contextvars.clear_contextvars()
    producer = AIOKafkaProducer(bootstrap_servers=isolated.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(isolated.topic_prefix + TOPIC, cause.to_bytes(), key=b"a")
    finally:
        await producer.stop()
    consumer = EventConsumer(
        probe_db,
        {TOPIC: {ItemChanged.event_type: react}},
        ConsumerConfig(
            name="probe", bootstrap_servers=isolated.bootstrap_servers, topic_prefix=isolated.topic_prefix
        ),
    )
    running = asyncio.create_task(consumer.run())
    try:
        await wait_until(
            lambda: _outbox_has(probe_db, "probe.reaction.v1"), what="the reaction to be emitted"
        )
    finally:
        consumer.stop()
        await running
    payload = await probe_db.fetchval("SELECT payload FROM outbox WHERE topic = 'probe.reaction.v1'")
    reaction = Envelope.model_validate_json(payload)
    assert reaction.correlationid == "journey-42"
    assert reaction.causationid == str(cause.id)


async def _outbox_has(pool: asyncpg.Pool, topic: str) -> bool:
    return bool(await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", topic))
