"""Kafka plumbing shared by the relay and the consumers: topic names, producers, provisioning."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from libs.common.events import INTERNAL_PREFIX, is_internal_topic

log = structlog.get_logger(__name__)

DLQ_SUFFIX = ".dlq"


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of a topic: always internal, `internal.<topic>.dlq`.

    Dead letters are copies of what a consumer could not apply, not CloudEvents a partner reads.
    An internal topic's dead letters keep its name (`internal.notify.requests.v1.dlq`).
    """
    name = topic if is_internal_topic(topic) else INTERNAL_PREFIX + topic
    return name + DLQ_SUFFIX


def is_broker_error(exc: BaseException) -> bool:
    """True when the broker is unreachable or slow: retry later, never dead-letter."""
    return isinstance(exc, KafkaError | ConnectionError | asyncio.TimeoutError)


def make_producer(bootstrap_servers: str, *, idempotence: bool = False) -> AIOKafkaProducer:
    """A producer tuned for the relay: acks from all replicas, small linger, large requests."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=idempotence,
        linger_ms=2,
        max_batch_size=256 * 1024,
        max_request_size=2 * 1024 * 1024,
        request_timeout_ms=30_000,
        retry_backoff_ms=200,
    )


BACKGROUND_WAKE_MS = 1_000
"""How often aiokafka's background fetcher wakes when nothing happens (its `consumer_timeout_ms`,
200 by default: five wake-ups a second per consumer, idle or not). It wakes anyway as each fetch
answers, when records are consumed and when partitions move, so this only bounds a missed signal."""


class FetchWait:
    """How long a consumer's next fetch may wait on the broker for data, adapted to its traffic.

    The local broker answers a fetch up to half its wait after data came (a Kafka broker answers as
    soon as data comes): the wait bounds each hop's delay, and every fetch costs CPU on both sides
    whether it brings anything or not (measured on the local broker: about 1.3 ms plus 0.14 ms per
    partition in the broker, 0.55-0.7 ms in the client; docs/performance.md). So: the
    short `busy_ms` after a poll that brought records, twice as long after each empty one, up to
    `idle_ms`. A busy consumer fetches every `busy_ms` with what came meanwhile; an idle one, every
    `idle_ms`, the delay of the first event after a quiet spell.

    aiokafka has no public way to change the wait of a started consumer: this sets its fetcher's
    attribute, read whenever it builds a fetch request (checked here, so that an aiokafka that
    renames it fails at start instead of silently keeping one wait).
    """

    def __init__(self, consumer: AIOKafkaConsumer, busy_ms: int, idle_ms: int) -> None:
        self._fetcher = getattr(consumer, "_fetcher", None)
        if not isinstance(getattr(self._fetcher, "_fetch_max_wait_ms", None), int):
            raise RuntimeError("this aiokafka has no Fetcher._fetch_max_wait_ms: FetchWait needs updating")
        self.busy_ms = busy_ms
        self.idle_ms = max(idle_ms, busy_ms)
        self.set(busy_ms)

    @property
    def current_ms(self) -> int:
        return int(self._fetcher._fetch_max_wait_ms)  # type: ignore[union-attr]

    def set(self, ms: int) -> None:
        self._fetcher._fetch_max_wait_ms = ms  # type: ignore[union-attr]

    def after_poll(self, got_records: bool) -> None:
        self.set(self.busy_ms if got_records else min(self.current_ms * 2, self.idle_ms))


async def ensure_topics(
    bootstrap_servers: str, topics: Iterable[str], partitions: int, replication_factor: int = 1
) -> None:
    """Create the topics that do not exist yet, with the given partition count."""
    names = sorted(set(topics))
    if not names:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        for name in missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(name=name, num_partitions=partitions, replication_factor=replication_factor)]
                )
        if missing:
            log.info("topics created", topics=missing, partitions=partitions)
    finally:
        await admin.close()


async def list_topics(bootstrap_servers: str) -> list[str]:
    """The broker's topics, sorted."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await admin.start()
    try:
        return sorted(await admin.list_topics())
    finally:
        await admin.close()


if __name__ == "__main__":
    import os

    for name in asyncio.run(list_topics(os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"))):
        print(name)
