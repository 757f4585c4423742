"""Event consumers: apply each event exactly once, park what fails, never block other keys."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError
from prometheus_client import Counter, Gauge
from pydantic import BaseModel, ValidationError

from libs.common import outbox
from libs.common.db import INFRASTRUCTURE_ERRORS, is_infrastructure_error
from libs.common.events import Envelope
from libs.common.kafka import BACKGROUND_WAKE_MS, FetchWait, dlq_topic, is_broker_error
from libs.common.logging import bind_correlation
from libs.common.stopping import pause

log = structlog.get_logger(__name__)

APPLIED = Counter("comptoir_events_applied_total", "Events applied", ["consumer", "topic"])
DEAD = Counter("comptoir_events_dead_lettered_total", "Events dead-lettered", ["consumer", "topic"])
LAG = Gauge(
    "comptoir_consumer_lag", "Messages behind the partition's end", ["consumer", "topic", "partition"]
)

Handler = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]
"""Applies one event inside the consumer's transaction; raising rolls the effect back."""

HandlerTable = Mapping[str, Mapping[str, Handler]]
"""`{topic: {event type: handler}}`: a service's one visible table of what it consumes."""


class _Membership(ConsumerRebalanceListener):  # type: ignore[misc]
    """Marks the consumer ready once the group has given it its partitions; commits what was applied
    of the partitions it loses, before their new owner starts from the committed offsets."""

    def __init__(self, ready: asyncio.Event, commit: Callable[[], Awaitable[None]]) -> None:
        self.ready = ready
        self.commit = commit

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.commit()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.ready.set()


class PermanentError(Exception):
    """Raise from a handler when retrying cannot help: the event is dead-lettered at once."""


@dataclass(frozen=True)
class ConsumerConfig:
    name: str  # consumer group, also the inbox's consumer name
    bootstrap_servers: str
    topic_prefix: str = ""
    max_attempts: int = 5
    retry_backoff: float = 0.2
    fetch_max_wait_ms: int = 15  # while events come: the poll interval and the fetch wait (see FetchWait)
    idle_fetch_max_wait_ms: int = 1_000  # after a quiet spell
    session_timeout_ms: int = 15_000  # see ServiceSettings.consumer_session_timeout_ms
    heartbeat_interval_ms: int = 3_000
    chunk_size: int = 100
    commit_interval: float = 1.0  # seconds between offset commits while events come
    inbox_retention: timedelta = timedelta(days=14)


Outcome = Literal["applied", "duplicate", "ignored", "parked", "dead"]
"""What happened to one message; only settled messages have their offset committed."""


_KEY_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"  # "<consumer>:<topic>:<key>"
# Key lock, parked check and inbox claim in one round trip (libs/common/migrations/0003).
_CLAIM = "SELECT consumer_claim($1, $2, $3, $4)"
# The same for every message of a chunk, in one round trip (libs/common/migrations/0006).
_CLAIMS = "SELECT consumer_claims($1, $2::text[], $3::text[], $4::uuid[])"
_INBOX = "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true"
_PARK = """
INSERT INTO dead_letters
    (consumer, topic, key, status, event_id, event_type, partition, "offset", payload, error, attempts)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (consumer, event_id) DO NOTHING
"""


@dataclass
class Message:
    """A message as the consumer applies it: from Kafka, or from the dead-letter table on replay."""

    topic: str  # logical topic, prefix removed
    key: str
    partition: int
    offset: int
    value: bytes
    envelope: Envelope | None = None
    parse_error: str | None = None
    attempts: int = field(default=0)

    @classmethod
    def parse(cls, topic: str, key: str, partition: int, offset: int, value: bytes) -> Message:
        msg = cls(topic, key, partition, offset, value)
        try:
            msg.envelope = Envelope.model_validate_json(value)
        except ValidationError as exc:
            msg.parse_error = f"not a valid CloudEvent: {exc}"
        return msg


class EventConsumer:
    """One consumer group over a service's subscribed topics.

    Per partition, messages are applied in order (in chunks sharing a transaction); partitions run
    concurrently. Each message is applied in the same transaction as its inbox row, so a redelivered
    event changes nothing. Offsets are committed after the transactions commit.

    - Infrastructure errors (database or broker away) retry forever with back-off: nothing is
      dead-lettered because of an outage.
    - Handler errors retry `max_attempts` times, then the message is dead-lettered: recorded in
      `dead_letters` and published to `internal.<topic>.dlq` through the outbox, with the error in headers.
      Its key is parked: later messages of that key wait in `dead_letters` until a replay.
    """

    def __init__(self, pool: asyncpg.Pool, handlers: HandlerTable, config: ConsumerConfig) -> None:
        self.pool = pool
        self.handlers = handlers
        self.config = config
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self._uncommitted: dict[TopicPartition, int] = {}
        self._last_commit = 0.0

    @property
    def topics(self) -> list[str]:
        return sorted(self.handlers)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Consume until `stop()`; the group is left cleanly so partitions move at once."""
        prefix = self.config.topic_prefix
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.config.bootstrap_servers,
            group_id=prefix + self.config.name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.config.fetch_max_wait_ms,
            session_timeout_ms=self.config.session_timeout_ms,
            heartbeat_interval_ms=min(self.config.heartbeat_interval_ms, self.config.session_timeout_ms // 3),
            max_poll_records=500,
            consumer_timeout_ms=BACKGROUND_WAKE_MS,
        )
        membership = _Membership(self.ready, self._commit)
        self._consumer.subscribe([prefix + topic for topic in self.topics], listener=membership)
        await self._start_consumer()
        wait = FetchWait(self._consumer, self.config.fetch_max_wait_ms, self.config.idle_fetch_max_wait_ms)
        last_purge = 0.0
        try:
            while not self._stopping.is_set():
                polled_at = time.monotonic()
                batch = await self._poll()
                wait.after_poll(bool(batch))
                if batch:
                    await self._handle_batch(batch)
                    # While events come, poll at most every `fetch_max_wait_ms`: the broker answers a
                    # fetch at once when data waits, so polling as fast as events come costs a fetch,
                    # a transaction and an outbox batch per event or two. Meanwhile the next events
                    # gather, and the next poll takes them all.
                    await pause(
                        self._stopping, polled_at + self.config.fetch_max_wait_ms / 1000 - time.monotonic()
                    )
                elif self._uncommitted:  # a quiet spell: what was applied is committed now
                    await self._commit()
                if time.monotonic() - last_purge > 600:
                    last_purge = time.monotonic()
                    await self._purge_inbox()
        finally:
            with contextlib.suppress(Exception):  # the broker may be away: the inbox covers a redelivery
                await self._commit()
            await self._consumer.stop()

    async def _purge_inbox(self) -> None:
        """Forget applied event ids after the retention: longer than any publisher keeps its outbox."""
        with contextlib.suppress(*INFRASTRUCTURE_ERRORS):
            await self.pool.execute(
                "DELETE FROM inbox WHERE consumer = $1 AND applied_at < now() - $2::interval",
                self.config.name,
                self.config.inbox_retention,
            )

    async def _start_consumer(self) -> None:
        assert self._consumer is not None
        backoff = 0.2
        while True:
            try:
                await self._consumer.start()
                return
            except Exception as exc:
                if not is_broker_error(exc):
                    raise
                log.warning("consumer waiting for the broker", error=repr(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _poll(self) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        assert self._consumer is not None
        poll = asyncio.ensure_future(self._consumer.getmany(timeout_ms=self.config.idle_fetch_max_wait_ms))
        stop = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({poll, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not poll.done():
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll
            return {}
        batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = poll.result()
        return batch

    async def _handle_batch(self, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        assert self._consumer is not None
        # Partitions are never applied concurrently: handlers lock rows that events of several
        # partitions share (loyalty's points account gets orders keyed by order id, so from every
        # partition), and chunks of two partitions applied at once held those locks against each
        # other until PostgreSQL's deadlock detector broke the tie a second later. Concurrency comes
        # from more consumer processes, whose chunks rarely meet.
        # A poll's records of several partitions, when few, share one transaction: at a steady rate
        # polls bring one or two records per partition, and a transaction each costs more round
        # trips than the handlers themselves. If that fails, each partition goes on its own.
        records = [record for part in batch.values() for record in part]
        if (
            len(batch) > 1
            and len(records) <= self.config.chunk_size
            and not self._stopping.is_set()
            and await self._apply_chunk(self._messages(records))
        ):
            done: list[int | None] = [part[-1].offset for part in batch.values()]
        else:
            done = [await self._handle_partition(part) for part in batch.values()]
        offsets = {tp: last + 1 for tp, last in zip(batch, done, strict=True) if last is not None}
        self._uncommitted.update(offsets)
        if time.monotonic() - self._last_commit >= self.config.commit_interval:
            await self._commit()
        for tp in batch:
            highwater = self._consumer.highwater(tp)
            position = offsets.get(tp)
            if highwater is not None and position is not None:
                LAG.labels(self.config.name, tp.topic, tp.partition).set(max(highwater - position, 0))

    async def _commit(self) -> None:
        """Commit the offsets of what was applied since the last commit.

        Offsets are committed at most every `commit_interval` while events come (each commit is a
        request to the broker), when partitions are revoked and when stopping. What a crash leaves
        uncommitted is delivered again to the next owner, and the inbox makes that harmless.
        """
        assert self._consumer is not None
        offsets, self._uncommitted = self._uncommitted, {}
        self._last_commit = time.monotonic()
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError as exc:
            # A rebalance moved the partition: its new owner redelivers, the inbox dedups.
            log.warning("offset commit refused after a rebalance", error=str(exc))

    async def _handle_partition(self, records: list[ConsumerRecord[bytes, bytes]]) -> int | None:
        """Apply records in order; return the offset of the last one settled (None if none).

        Records go in chunks, one transaction each, so that a backlog costs one commit per chunk.
        When anything in a chunk fails, the chunk is rolled back and its messages are applied one
        by one, which isolates the culprit for retries and dead-lettering.
        """
        last: int | None = None
        for start in range(0, len(records), self.config.chunk_size):
            chunk = records[start : start + self.config.chunk_size]
            msgs = self._messages(chunk)
            if self._stopping.is_set():
                break
            if len(msgs) > 1 and await self._apply_chunk(msgs):
                last = chunk[-1].offset
                continue
            for msg in msgs:
                if await self._deliver(msg) is None:
                    return last  # stopping during an outage: leave the rest for the next owner
                last = msg.offset
        return last

    def _messages(self, records: list[ConsumerRecord[bytes, bytes]]) -> list[Message]:
        prefix_len = len(self.config.topic_prefix)
        return [
            Message.parse(
                r.topic[prefix_len:],
                (r.key or b"").decode(errors="replace"),
                r.partition,
                r.offset,
                r.value or b"",
            )
            for r in records
        ]

    async def _apply_chunk(self, msgs: list[Message]) -> bool:
        """Apply every message in one transaction; False (nothing applied) if any of them fails."""
        try:
            outcomes = []
            async with self.pool.acquire() as conn, conn.transaction():
                claims = await conn.fetchval(
                    _CLAIMS,
                    self.config.name,
                    [msg.topic for msg in msgs],
                    [msg.key for msg in msgs],
                    [msg.envelope.id if msg.envelope else None for msg in msgs],
                )
                for msg, claim in zip(msgs, claims, strict=True):
                    outcomes.append(await self._settle(conn, msg, claim))
        except Exception as exc:
            # A warning: one by one is much slower, and a deadlock between chunks lands here too.
            log.warning("chunk failed, applying its messages one by one", size=len(msgs), error=repr(exc))
            return False
        for msg, outcome in zip(msgs, outcomes, strict=True):
            if outcome == "applied":
                APPLIED.labels(self.config.name, msg.topic).inc()
        return True

    async def _deliver(self, msg: Message) -> Outcome | None:
        """Apply with retries. None when stopping before the message could be settled."""
        infra_backoff = handler_backoff = self.config.retry_backoff
        while True:
            try:
                return await self.apply(msg)
            except Exception as exc:
                if self._stopping.is_set():
                    return None  # never dead-letter because we are shutting down
                if is_infrastructure_error(exc) or is_broker_error(exc):
                    log.warning("consumer waiting for infrastructure", error=repr(exc))
                    await self._sleep(infra_backoff)
                    infra_backoff = min(infra_backoff * 2, 5.0)
                    continue
                msg.attempts += 1
                error = "".join(traceback.format_exception_only(exc)).strip()
                log.warning("handler failed", topic=msg.topic, key=msg.key, attempt=msg.attempts, error=error)
                if (
                    isinstance(exc, PermanentError | ValidationError)
                    or msg.attempts >= self.config.max_attempts
                ):
                    return await self._settle_dead(msg, error)
                await self._sleep(handler_backoff)
                handler_backoff = min(handler_backoff * 2, 10.0)

    async def _settle_dead(self, msg: Message, error: str) -> Outcome | None:
        backoff = self.config.retry_backoff
        while True:
            try:
                return await self.dead_letter(msg, error)
            except Exception as exc:
                if not (is_infrastructure_error(exc) or is_broker_error(exc)) or self._stopping.is_set():
                    raise
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _sleep(self, seconds: float) -> None:
        await pause(self._stopping, seconds * (1 + random.random() / 4))

    async def apply(self, msg: Message) -> Outcome:
        """Apply one message in its own transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            outcome = await self._apply_in(conn, msg)
        if outcome == "applied":
            APPLIED.labels(self.config.name, msg.topic).inc()
        return outcome

    async def _apply_in(self, conn: asyncpg.Connection, msg: Message) -> Outcome:
        """Park behind a dead letter of the same key, or apply once via the inbox."""
        event_id = msg.envelope.id if msg.envelope else None
        claim = await conn.fetchval(_CLAIM, self.config.name, msg.topic, msg.key, event_id)
        return await self._settle(conn, msg, claim)

    async def _settle(self, conn: asyncpg.Connection, msg: Message, claim: str) -> Outcome:
        """What a message's claim decided: parked behind a dead letter of its key, a duplicate, or
        applied now (an unreadable one fails in `_handle`)."""
        if claim == "parked":
            await self._insert_parked(conn, msg, "waiting", None)
            log.info("event parked behind a dead letter", topic=msg.topic, key=msg.key)
            return "parked"
        if claim == "duplicate":
            return "duplicate"
        return await self._handle(conn, msg)

    async def _apply_once(self, conn: asyncpg.Connection, msg: Message) -> Outcome:
        """Apply via the inbox, under a key lock the caller holds (replay)."""
        if msg.envelope is not None and not await conn.fetchval(_INBOX, self.config.name, msg.envelope.id):
            return "duplicate"
        return await self._handle(conn, msg)

    async def _handle(self, conn: asyncpg.Connection, msg: Message) -> Outcome:
        """Run the message's handler; its event is claimed in the inbox already."""
        if msg.envelope is None:
            raise PermanentError(msg.parse_error)
        event = msg.envelope
        handler = self.handlers.get(msg.topic, {}).get(event.type)
        if handler is None:
            return "ignored"
        bind_correlation(event.correlationid or str(event.id), str(event.id))
        await handler(conn, event)
        return "applied"

    async def dead_letter(self, msg: Message, error: str) -> Outcome:
        """Record the message as dead, park its key and publish it to its dead-letter topic via the outbox."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_KEY_LOCK, f"{self.config.name}:{msg.topic}:{msg.key}")
            await self._insert_parked(conn, msg, "dead", error)
            await outbox.append_raw(
                conn,
                dlq_topic(msg.topic),
                msg.key,
                msg.value,
                event_id=msg.envelope.id if msg.envelope else None,
                headers=[
                    ("dlq-error", error[:2000]),
                    ("dlq-consumer", self.config.name),
                    ("dlq-topic", msg.topic),
                    ("dlq-partition", str(msg.partition)),
                    ("dlq-offset", str(msg.offset)),
                    ("dlq-attempts", str(msg.attempts)),
                ],
            )
        DEAD.labels(self.config.name, msg.topic).inc()
        log.error("event dead-lettered", topic=msg.topic, key=msg.key, error=error)
        return "dead"

    async def _insert_parked(
        self, conn: asyncpg.Connection, msg: Message, status: str, error: str | None
    ) -> None:
        event = msg.envelope
        await conn.execute(
            _PARK,
            self.config.name,
            msg.topic,
            msg.key,
            status,
            # A malformed message has no id: its content stands in, so a redelivery is not a new row.
            event.id if event else uuid.uuid5(uuid.NAMESPACE_OID, hashlib.sha256(msg.value).hexdigest()),
            event.type if event else None,
            msg.partition,
            msg.offset,
            msg.value,
            error,
            msg.attempts,
        )

    async def replay(self, dead_letter_id: int) -> ReplayResult:
        """Apply a dead letter's key again: the dead message, then the ones waiting behind it.

        Stops at the first message that fails again, which stays dead with its new error. Safe while
        the consumer runs: both take the same per-key lock, so no message of the key slips past.
        """
        name = self.config.name
        row = await self.pool.fetchrow(
            "SELECT topic, key FROM dead_letters WHERE id = $1 AND consumer = $2", dead_letter_id, name
        )
        if row is None:
            raise LookupError(f"no dead letter {dead_letter_id} for consumer {name}")
        result = ReplayResult(topic=row["topic"], key=row["key"])
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(_KEY_LOCK, f"{name}:{row['topic']}:{row['key']}")
                parked = await conn.fetchrow(
                    "SELECT * FROM dead_letters WHERE consumer = $1 AND topic = $2 AND key = $3"
                    " ORDER BY id LIMIT 1",
                    name,
                    row["topic"],
                    row["key"],
                )
                if parked is None:
                    return result
                msg = Message.parse(
                    parked["topic"], parked["key"], parked["partition"], parked["offset"], parked["payload"]
                )
                try:
                    async with conn.transaction():  # a savepoint: a failure keeps the row, with its error
                        outcome = await self._apply_once(conn, msg)
                except Exception as exc:
                    if is_infrastructure_error(exc):
                        raise
                    result.failed_id = parked["id"]
                    result.error = "".join(traceback.format_exception_only(exc)).strip()
                    await conn.execute(
                        "UPDATE dead_letters SET status = 'dead', error = $2, attempts = attempts + 1,"
                        " updated_at = now() WHERE id = $1",
                        parked["id"],
                        result.error,
                    )
                    return result
                await conn.execute("DELETE FROM dead_letters WHERE id = $1", parked["id"])
                result.applied += outcome == "applied"

    async def discard(self, dead_letter_id: int) -> None:
        """Drop a dead letter for good; the messages waiting behind it stay until a replay."""
        status = await self.pool.execute(
            "DELETE FROM dead_letters WHERE id = $1 AND consumer = $2 AND status = 'dead'",
            dead_letter_id,
            self.config.name,
        )
        if status == "DELETE 0":
            raise LookupError(f"no dead letter {dead_letter_id} for consumer {self.config.name}")


@dataclass
class ReplayResult:
    topic: str
    key: str
    applied: int = 0
    failed_id: int | None = None
    error: str | None = None


class DeadLetter(BaseModel):
    """A row of `dead_letters`, as `make dlq` lists it."""

    id: int
    consumer: str
    topic: str
    key: str
    status: str
    event_id: uuid.UUID | None
    event_type: str | None
    partition: int
    offset: int
    error: str | None
    attempts: int
    created_at: datetime


async def list_dead_letters(pool: asyncpg.Pool) -> list[DeadLetter]:
    """Every dead and waiting message of the service, oldest first."""
    rows = await pool.fetch(
        'SELECT id, consumer, topic, key, status, event_id, event_type, partition, "offset", error,'
        " attempts, created_at FROM dead_letters ORDER BY id"
    )
    return [DeadLetter(**dict(row)) for row in rows]
