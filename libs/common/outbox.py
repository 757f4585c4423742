"""Transactional outbox: append events with the change that causes them; a relay publishes them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Gauge

from libs.common.db import doorbell_channel, is_infrastructure_error
from libs.common.events import INTERNAL_PREFIX, Envelope, IntegrationEvent, envelope
from libs.common.kafka import ensure_topics, is_broker_error, make_producer
from libs.common.stopping import pause

log = structlog.get_logger(__name__)

PUBLISHED = Counter("comptoir_outbox_published_total", "Outbox rows published", ["service"])
BACKLOG = Gauge("comptoir_outbox_backlog", "Outbox rows not yet published", ["service"])
REPUBLISHED = Counter(
    "comptoir_outbox_broker_resets_total", "Times the relay found a broker that lost its data", ["service"]
)

# The NOTIFY is delivered at commit, once per transaction: it rings the relay's doorbell.
_APPEND = """
WITH added AS (
    INSERT INTO outbox (topic, key, event_id, payload, headers) VALUES ($1, $2, $3, $4, $5::jsonb)
)
SELECT pg_notify('comptoir_outbox_' || current_schema(), '')
"""


# Marks a published batch and records the marker's offset; returns the marker's previous offset.
# The subquery reads the snapshot taken before the statement: the value being replaced.
_MARK_PUBLISHED = """
WITH published AS (UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[]))
INSERT INTO outbox_relay_state (marker_offset) VALUES ($2)
ON CONFLICT (singleton) DO UPDATE SET marker_offset = EXCLUDED.marker_offset
RETURNING (SELECT marker_offset FROM outbox_relay_state)
"""


def _lost_data(previous_offset: int | None, offset: int) -> bool:
    """A marker offset not above the last one seen: the broker started again from nothing."""
    return previous_offset is not None and offset <= previous_offset


async def append(
    conn: asyncpg.Connection,
    topic: str,
    event: Envelope,
    *,
    key: str | None = None,
) -> None:
    """Add an event to the outbox in the caller's transaction; published only if it commits.

    Callers lock the aggregate's row first, so that for one key the outbox order is commit order.
    """
    await append_raw(conn, topic, key or event.subject, event.to_bytes(), event_id=event.id)


async def publish(
    conn: asyncpg.Connection,
    source: str,
    event: IntegrationEvent,
    *,
    subject: str,
    tenant_id: str,
    time: datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> Envelope:
    """Publish a service's event with the change in the caller's transaction: wrapped in its
    envelope (the current correlation and causation ids), keyed by its subject, on its topic."""
    wrapped = envelope(source, event, subject=subject, tenant_id=tenant_id, time=time, event_id=event_id)
    await append(conn, event.topic, wrapped)
    return wrapped


async def append_raw(
    conn: asyncpg.Connection,
    topic: str,
    key: str,
    payload: bytes,
    *,
    event_id: uuid.UUID | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> None:
    """Add any message (a dead letter, for one) to the outbox in the caller's transaction."""
    if not conn.is_in_transaction():
        raise RuntimeError("outbox.append needs a transaction: the event must commit with its change")
    await conn.execute(_APPEND, topic, key, event_id, payload, json.dumps(list(headers)))


@dataclass(frozen=True)
class RelayConfig:
    service: str
    schema: str
    bootstrap_servers: str
    topic_prefix: str = ""
    partitions: int = 4
    replication_factor: int = 1
    topics: tuple[str, ...] = ()  # every topic the outbox may hold, created at takeover and after a reset
    batch_size: int = 500
    poll_interval: float = 5.0  # a commit rings the doorbell: this only bounds a missed ring
    linger: float = 0.01  # seconds after a batch before the next, while events come
    retention: timedelta = timedelta(days=7)
    send_timeout: float = 60.0
    idle_broker_check: float = 10.0  # seconds without publishing before the broker is checked anyway
    check_after_pause: float = 1.0  # seconds since the last marker after which a batch checks first
    idempotence: bool = False

    @property
    def marker_topic(self) -> str:
        """Where the relay writes its empty marker records: internal, they are no CloudEvents."""
        return f"{self.topic_prefix}{INTERNAL_PREFIX}relay_marker.{self.schema}"


class LostLeadership(RuntimeError):
    """The connection holding the relay lock is gone: another replica may publish now."""


class OutboxRelay:
    """Publishes a service's outbox to Kafka, in id order, with one active publisher at a time.

    - Leadership: a session advisory lock on a dedicated connection, which also runs the relay's
      queries (no pool checkout per batch). If that connection dies the lock is released and a
      standby replica takes over; it republishes the unmarked rows, which the consumers' inboxes
      make harmless.
    - Batches: up to `batch_size` rows are sent, then all acknowledgements awaited, then marked;
      while rows keep coming, the next batch waits `linger` after the last (a full one does not).
    - Broker resets: with each batch (in the same produce request, or just before it after a pause
      of `check_after_pause`), at takeover and every `idle_broker_check` seconds when idle, the
      relay writes a marker record to its own topic and compares the offset with the last one it
      saw. A smaller offset means the broker lost its data (the local broker keeps nothing on
      restart): every retained row is marked unpublished and sent again.
    """

    def __init__(self, pool: asyncpg.Pool, config: RelayConfig) -> None:
        self.pool = pool
        self.config = config
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.is_leader = False
        self._last_purge = 0.0
        self._last_marker = 0.0

    async def run(self) -> None:
        """Run until `stop()`: wait for leadership, publish, step down on any infrastructure loss."""
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                async with self._leadership() as lock_conn:
                    if lock_conn is None:
                        return
                    backoff = 0.1
                    await self._serve(lock_conn)
            except LostLeadership:
                log.warning("relay lost its leadership lock", service=self.config.service)
            except Exception as exc:
                if not (is_infrastructure_error(exc) or is_broker_error(exc)):
                    raise
                log.warning("relay waiting for infrastructure", error=repr(exc), retry_in=backoff)
            finally:
                self.is_leader = False
            await pause(self._stopping, backoff * (1 + random.random() / 2))
            backoff = min(backoff * 2, 5.0)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    @contextlib.asynccontextmanager
    async def _leadership(self) -> AsyncIterator[asyncpg.Connection | None]:
        """Hold the relay lock on a dedicated connection; yields None if stopped while waiting."""
        conn = await self.pool.acquire()
        lock_key = f"comptoir.relay.{self.config.schema}"
        channel = doorbell_channel("outbox", self.config.schema)
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", lock_key):
                await pause(self._stopping, 1.0)
                if self._stopping.is_set():
                    yield None
                    return
            self.is_leader = True
            await conn.add_listener(channel, self._ring)
            log.info("relay is the active publisher", service=self.config.service)
            try:
                yield conn
            finally:
                if not conn.is_closed():
                    await conn.remove_listener(channel, self._ring)
                    await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", lock_key)
        finally:
            await self.pool.release(conn, timeout=5)

    def _ring(self, *_: object) -> None:
        self._wake.set()

    async def _serve(self, lock_conn: asyncpg.Connection) -> None:
        producer = make_producer(self.config.bootstrap_servers, idempotence=self.config.idempotence)
        await producer.start()
        try:
            await self._provision_all()
            # At takeover too: the broker may have lost its data while nobody published.
            if await self._broker_lost_data(producer, lock_conn):
                await self._republish_retained(lock_conn)
            while not self._stopping.is_set():
                if lock_conn.is_closed():
                    raise LostLeadership
                # Cleared before looking: a commit that rings while we look is not missed.
                self._wake.clear()
                published = await self.publish_batch(producer, lock_conn)
                if 0 < published < self.config.batch_size:
                    # Events keep coming: let the next ones gather for a moment, so that a batch
                    # (a query, a produce request, a mark) carries several of them.
                    await pause(self._stopping, self.config.linger)
                elif published == 0:
                    await self._purge_expired(lock_conn)
                    if time.monotonic() - self._last_marker > self.config.idle_broker_check:
                        if await self._broker_lost_data(producer, lock_conn):
                            await self._republish_retained(lock_conn)
                        continue
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.config.poll_interval)
        finally:
            await producer.stop()

    async def publish_batch(self, producer: AIOKafkaProducer, conn: asyncpg.Connection) -> int:
        """Publish the oldest unpublished rows; return how many were published. `conn` is the
        leader's own connection: no pool checkout per batch."""
        rows = await conn.fetch(
            "SELECT id, topic, key, payload, headers FROM outbox"
            " WHERE published_at IS NULL ORDER BY id LIMIT $1",
            self.config.batch_size,
        )
        if not rows:
            BACKLOG.labels(self.config.service).set(0)
            return 0
        # After a pause the broker may have restarted empty meanwhile: check before sending, so that
        # nothing newer reaches a fresh broker ahead of what it lost.
        pause = time.monotonic() - self._last_marker
        if pause > self.config.check_after_pause and await self._broker_lost_data(producer, conn):
            return await self._republish_retained(conn)
        # While busy, the marker goes with the batch, first in the same produce request: one round
        # trip to the broker, and one statement records both the marker and the batch.
        self._last_marker = time.monotonic()
        marker = await producer.send(self.config.marker_topic, value=b"", partition=0)
        prefix = self.config.topic_prefix
        futures = [
            await producer.send(
                prefix + row["topic"],
                value=row["payload"],
                key=row["key"].encode(),
                headers=[(k, v.encode()) for k, v in json.loads(row["headers"])],
            )
            for row in rows
        ]
        sent = await asyncio.wait_for(asyncio.gather(marker, *futures), self.config.send_timeout)
        ids = [row["id"] for row in rows]
        if _lost_data(await conn.fetchval(_MARK_PUBLISHED, ids, sent[0].offset), sent[0].offset):
            # The broker lost what it had before this batch: send everything retained again, in order.
            return await self._republish_retained(conn)
        PUBLISHED.labels(self.config.service).inc(len(ids))
        if len(ids) == self.config.batch_size:
            BACKLOG.labels(self.config.service).set(
                await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            )
        return len(ids)

    async def _broker_lost_data(self, producer: AIOKafkaProducer, conn: asyncpg.Connection) -> bool:
        self._last_marker = time.monotonic()
        sent = await producer.send(self.config.marker_topic, value=b"", partition=0)
        offset = (await asyncio.wait_for(sent, self.config.send_timeout)).offset
        return _lost_data(await conn.fetchval(_MARK_PUBLISHED, [], offset), offset)

    async def _republish_retained(self, conn: asyncpg.Connection) -> int:
        REPUBLISHED.labels(self.config.service).inc()
        await self._provision_all()
        count = await conn.fetchval(
            "WITH reset AS (UPDATE outbox SET published_at = NULL WHERE published_at IS NOT NULL"
            " RETURNING 1) SELECT count(*) FROM reset"
        )
        log.warning("broker lost its data: republishing the retained outbox", rows=count)
        return int(count)

    async def _provision_all(self) -> None:
        await ensure_topics(
            self.config.bootstrap_servers,
            [self.config.topic_prefix + t for t in self.config.topics],
            self.config.partitions,
            self.config.replication_factor,
        )
        # The marker too: a real Kafka cluster does not create topics on first use.
        await ensure_topics(
            self.config.bootstrap_servers, [self.config.marker_topic], 1, self.config.replication_factor
        )

    async def _purge_expired(self, conn: asyncpg.Connection) -> None:
        if time.monotonic() - self._last_purge < 60:
            return
        self._last_purge = time.monotonic()
        deleted = await conn.execute(
            "DELETE FROM outbox WHERE published_at < now() - $1::interval", self.config.retention
        )
        log.debug("outbox purged", result=deleted)
