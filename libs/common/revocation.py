"""Session revocations: every process that verifies tokens follows identity's internal topic of
ended sessions, and its verifier refuses their access tokens within a second (the api role too).

The reader belongs to no consumer group: each process must see every revocation, so it assigns
itself every partition and commits nothing. At start it reads back from the records written
`lookback` seconds ago (the longest life of an access token: anything older only names tokens that
have expired) and is ready once it has read up to the end; then it follows the topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import UnsupportedVersionError
from prometheus_client import Gauge
from pydantic import BaseModel, ConfigDict, ValidationError

from libs.common.auth import Revocations
from libs.common.events import Envelope
from libs.common.kafka import BACKGROUND_WAKE_MS, ensure_topics, is_broker_error

log = structlog.get_logger(__name__)

SESSION_TOPIC = "internal.identity.session.v1"
SESSION_REVOKED = "identity.session.revoked"

REVOKED_SESSIONS = Gauge("comptoir_revoked_sessions", "Ended sessions whose access tokens are refused")


class SessionsRevoked(BaseModel):
    """This reader's view of `identity.session.revoked` (identity's model says more)."""

    model_config = ConfigDict(extra="ignore")

    session_ids: list[str]
    tokens_expire_by: datetime


@dataclass(frozen=True)
class FeedConfig:
    bootstrap_servers: str
    topic: str  # with the deployment's topic prefix
    lookback: float = 960.0  # seconds: at least the access tokens' lifetime
    partitions: int = 4  # when the topic has to be created
    replication_factor: int = 1
    fetch_max_wait_ms: int = 1_200  # ServiceSettings.revocation_fetch_max_wait_ms


class RevocationFeed:
    """Feeds a verifier's `Revocations` from the topic; `caught_up` is set once the start's
    read-back reached the end. It keeps trying while the broker is away: after the first catch-up
    the process stays ready (the api role must outlive a broker outage), and revocations made
    meanwhile are applied when the broker returns."""

    def __init__(self, revocations: Revocations, config: FeedConfig) -> None:
        self.revocations = revocations
        self.config = config
        self.caught_up = asyncio.Event()

    async def run(self) -> None:
        """Follow the topic until cancelled, starting again (with a read-back) after a broker error."""
        backoff = 0.1
        while True:
            try:
                await self._follow()
            except Exception as exc:
                if _cancelling():
                    # Stopping: the Kafka client may turn the cancellation into an error of its own;
                    # starting again would swallow the stop and the app would never shut down.
                    raise asyncio.CancelledError from exc
                # Whatever went wrong, the reader starts again: a verifier that silently stopped
                # hearing of ended sessions would accept their tokens.
                if is_broker_error(exc):
                    log.warning(
                        "session revocations: waiting for the broker", error=repr(exc), retry_in=backoff
                    )
                else:
                    log.exception("session revocations: reader failed, starting again", retry_in=backoff)
            await asyncio.sleep(backoff * (1 + random.random() / 2))
            backoff = min(backoff * 2, 5.0)

    async def ready(self) -> None:
        """A readiness check: fails until the revocations of the last `lookback` seconds are known."""
        if not self.caught_up.is_set():
            raise RuntimeError("session revocations not read up to date yet")

    @contextlib.asynccontextmanager
    async def running(self, stop_timeout: float = 5.0) -> AsyncIterator[None]:
        """Follow the topic for the block. Stopping waits `stop_timeout` at most for the reader: a
        Kafka client that does not give the cancellation back must not hang the app's shutdown."""
        task = asyncio.create_task(self.run(), name="session-revocations")
        try:
            yield
        finally:
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=stop_timeout)
            if not done:
                log.error("session revocations: the reader did not stop, left behind", after_s=stop_timeout)
            elif not task.cancelled() and task.exception() is not None:
                log.error("session revocations: the reader failed", error=repr(task.exception()))

    async def cleanup_ctx(self, app: web.Application) -> AsyncIterator[None]:
        """Run beside an aiohttp app (`app.cleanup_ctx.append(feed.cleanup_ctx)`)."""
        async with self.running():
            yield

    async def _follow(self) -> None:
        c = self.config
        await ensure_topics(c.bootstrap_servers, [c.topic], c.partitions, c.replication_factor)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=c.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            # Past the end after a broker that lost its data: read what it has now.
            auto_offset_reset="earliest",
            fetch_max_wait_ms=c.fetch_max_wait_ms,
            consumer_timeout_ms=BACKGROUND_WAKE_MS,
        )
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            consumer.assign(partitions)
            await self._rewind(consumer, partitions)
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                if _cancelling():
                    # A cancellation the client swallowed (asyncio.wait_for in Python 3.11 returns
                    # the result when it comes at the moment of the cancel): stop all the same.
                    raise asyncio.CancelledError
                for records in batches.values():
                    for record in records:
                        self.apply(record.value)
                if not self.caught_up.is_set() and await _at_end(consumer, partitions):
                    self.caught_up.set()
                    log.info("session revocations read up to date", revoked=len(self.revocations))
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        await consumer.topics()  # refreshes the metadata: the topic may be new
        numbers = consumer.partitions_for_topic(self.config.topic)
        if not numbers:
            raise TimeoutError(f"no partitions known for {self.config.topic} yet")
        return [TopicPartition(self.config.topic, n) for n in sorted(numbers)]

    async def _rewind(self, consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]) -> None:
        """Go back to the first record written within `lookback` (by its timestamp), else to the
        beginning where the broker cannot look offsets up by time."""
        since = int((time.time() - self.config.lookback) * 1000)
        try:
            found = await asyncio.wait_for(consumer.offsets_for_times({tp: since for tp in partitions}), 10)
        except UnsupportedVersionError:
            await consumer.seek_to_beginning(*partitions)
            return
        for tp in partitions:
            hit = found.get(tp)
            # Nothing that recent: only what comes next matters. (The local broker answers with
            # timestamp -1 rather than no offset; it also dates records by their arrival.)
            if hit is None or hit.timestamp < 0:
                await consumer.seek_to_end(tp)
            else:
                consumer.seek(tp, hit.offset)

    def apply(self, value: bytes | None) -> None:
        """Apply one record; anything else on the topic, or unreadable, is skipped (and logged)."""
        try:
            event = Envelope.model_validate_json(value or b"")
            if event.type != SESSION_REVOKED:
                return
            revoked = SessionsRevoked.model_validate(event.data)
        except ValidationError as exc:
            log.warning("session revocations: unreadable record skipped", error=str(exc)[:200])
            return
        until = revoked.tokens_expire_by.timestamp()
        if until > time.time():
            self.revocations.revoke(revoked.session_ids, until)
            REVOKED_SESSIONS.set(len(self.revocations))


async def _at_end(consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]) -> bool:
    """Every partition read up to the high watermark of its latest fetch (which is later than the
    start: what was written before the start has been read)."""
    for tp in partitions:
        highwater = consumer.highwater(tp)
        if highwater is None or await consumer.position(tp) < highwater:
            return False
    return True


def _cancelling() -> bool:
    """Whether the running task has been asked to stop."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
