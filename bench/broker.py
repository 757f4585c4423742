"""Limits of the parts the event pipeline stands on, in the same run: the broker (raw produce and
consume throughput, produce → consume latency at a steady rate, with aiokafka) and the SMTP sink
(emails/s over one connection). Nothing of ours in the path: what the pipeline can never beat."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.load import percentiles
from libs.common.settings import ServiceSettings

MESSAGES = 20_000
PAYLOAD = b"x" * 500  # about the size of an order event
LATENCY_RATE = 100  # messages/s, the pipeline's rate
LATENCY_SECONDS = 10
# What our consumers use: the broker answers a fetch only when this wait ends (INFRA.md).
FETCH_MAX_WAIT_MS = ServiceSettings.model_fields["consumer_fetch_max_wait_ms"].default


async def _topic(bootstrap: str) -> str:
    name = f"bench.broker.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    return name


async def _consumer(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )
    await consumer.start()
    return consumer


async def throughput(bootstrap: str) -> dict[str, float]:
    """Produce `MESSAGES` as fast as the producer batches them, then consume them all."""
    topic = await _topic(bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        started = time.perf_counter()
        sent = [await producer.send(topic, PAYLOAD, key=str(i % 64).encode()) for i in range(MESSAGES)]
        await asyncio.gather(*sent)
        produced_s = time.perf_counter() - started
    finally:
        await producer.stop()
    consumer = await _consumer(bootstrap, topic)
    try:
        started, got = time.perf_counter(), 0
        while got < MESSAGES:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            got += sum(len(records) for records in batches.values())
        consumed_s = time.perf_counter() - started
    finally:
        await consumer.stop()
    return {
        "messages": MESSAGES,
        "produce_per_s": MESSAGES / produced_s,
        "consume_per_s": MESSAGES / consumed_s,
    }


async def latency(bootstrap: str) -> dict[str, Any]:
    """One message at a time at `LATENCY_RATE`/s: from the send's scheduled time to its receipt
    (both on this machine's monotonic clock, so no clock skew)."""
    topic = await _topic(bootstrap)
    consumer = await _consumer(bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
    await producer.start()
    count = LATENCY_RATE * LATENCY_SECONDS
    latencies: list[float] = []

    async def receive() -> None:
        while len(latencies) < count:
            batches = await consumer.getmany(timeout_ms=1000)
            now = time.monotonic()
            for records in batches.values():
                latencies.extend((now - float(r.value.decode())) * 1000 for r in records if r.value)

    receiving = asyncio.create_task(receive())
    try:
        await asyncio.sleep(1)  # the consumer has its partition before the first send
        start = time.monotonic()
        for i in range(count):
            scheduled = start + i / LATENCY_RATE
            await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
            await producer.send(topic, str(scheduled).encode())
        await asyncio.wait_for(receiving, timeout=30)
    finally:
        receiving.cancel()
        await producer.stop()
        await consumer.stop()
    return {
        "rate_per_s": LATENCY_RATE,
        "messages": len(latencies),
        "fetch_max_wait_ms": FETCH_MAX_WAIT_MS,
    } | percentiles(latencies)


async def limits(bootstrap: str, progress: Any) -> dict[str, Any]:
    progress(f"broker: {MESSAGES:,} messages of {len(PAYLOAD)} bytes produced, then consumed (aiokafka)")
    raw = await throughput(bootstrap)
    progress(f"broker: produce → consume latency, one message at a time at {LATENCY_RATE}/s")
    return raw | {"latency": await latency(bootstrap)}


async def smtp_sink(smtp_url: str, progress: Any, count: int = 1_000) -> dict[str, float]:
    """How many mails/s the SMTP sink takes over one connection, sent as notify sends them (bytes
    with `sendmail`): the ceiling of order → email on this machine, whatever notify does."""
    progress(f"SMTP sink: {count:,} emails over one connection (aiosmtplib)")
    parts = urlsplit(smtp_url)
    mail = (
        b"From: bench@comptoir.local\r\nTo: sink@comptoir.local\r\nSubject: bench\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + b"Bonjour, votre commande est partie.\r\n" * 10
    )
    smtp = aiosmtplib.SMTP(hostname=parts.hostname or "127.0.0.1", port=parts.port or 25)
    await smtp.connect()
    try:
        started = time.perf_counter()
        for _ in range(count):
            await smtp.sendmail("bench@comptoir.local", ["sink@comptoir.local"], mail)
        elapsed = time.perf_counter() - started
    finally:
        await smtp.quit()
    return {"emails": count, "per_s": count / elapsed}
