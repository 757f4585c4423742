"""Kafka plumbing shared by the relay and the consumers: topic names, producers, provisioning."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import structlog
from aiokafka import AIOKafkaProducer
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
