"""Session revocations reach every process that verifies tokens, through the real broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer

from libs.common.api import VERIFIER
from libs.common.auth import Revocations, TokenVerifier
from libs.common.events import Envelope
from libs.common.kafka import ensure_topics
from libs.common.revocation import SESSION_REVOKED, SESSION_TOPIC, FeedConfig, RevocationFeed
from libs.common.runtime import start
from libs.devstack.testing import Isolated, TokenMinter, service_running, wait_until
from tests.common.sample.app import SPEC


def revoked(*session_ids: str, tokens_expire_in: float = 900) -> bytes:
    """An `identity.session.revoked` event as identity publishes it (identity's own tests check
    that its events read this way)."""
    now = datetime.now(UTC)
    return Envelope(
        id=uuid.uuid4(),
        source="identity",
        type=SESSION_REVOKED,
        time=now,
        subject="a1",
        dataschema=f"urn:comptoir:event:{SESSION_REVOKED}:v1",
        tenantid="brand-a",
        data={
            "account_id": "a1",
            "session_ids": list(session_ids),
            "reason": "logout",
            "revoked_at": now.isoformat(),
            "tokens_expire_by": (now + timedelta(seconds=tokens_expire_in)).isoformat(),
        },
    ).to_bytes()


@pytest.fixture
async def producer(isolated: Isolated) -> AsyncIterator[AIOKafkaProducer]:
    await ensure_topics(isolated.bootstrap_servers, [isolated.topic_prefix + SESSION_TOPIC], 4)
    started = AIOKafkaProducer(bootstrap_servers=isolated.bootstrap_servers)
    await started.start()
    yield started
    await started.stop()


async def test_a_feed_reads_back_the_lookback_then_follows_within_a_second(
    isolated: Isolated, producer: AIOKafkaProducer
) -> None:
    topic = isolated.topic_prefix + SESSION_TOPIC
    # Written longer ago than the lookback (the longest life of a token): not read back.
    await producer.send_and_wait(topic, revoked("old"), key=b"a1")
    await asyncio.sleep(1.5)
    await producer.send_and_wait(topic, revoked("before-start"), key=b"a1")
    await producer.send_and_wait(topic, revoked("expired", tokens_expire_in=-1), key=b"a2")
    await producer.send_and_wait(topic, b"not an event", key=b"a3")

    revocations = Revocations()
    feed = RevocationFeed(revocations, FeedConfig(isolated.bootstrap_servers, topic, lookback=1))
    with pytest.raises(RuntimeError):
        await feed.ready()
    async with feed.running():
        await asyncio.wait_for(feed.caught_up.wait(), 10)
        await feed.ready()
        assert revocations.is_revoked("before-start")
        assert not revocations.is_revoked("old") and not revocations.is_revoked("expired")

        started = time.monotonic()
        await producer.send_and_wait(topic, revoked("after-start"), key=b"a4")
        await wait_until(lambda: _revoked(revocations, "after-start"), "the new revocation", timeout=1)
        assert time.monotonic() - started < 1


async def _revoked(revocations: Revocations, session_id: str) -> bool:
    return revocations.is_revoked(session_id)


async def test_the_api_role_is_ready_after_reading_revocations_and_refuses_an_ended_sessions_token(
    isolated: Isolated, tokens: TokenMinter, producer: AIOKafkaProducer
) -> None:
    settings = isolated.service_settings("sample", role="api")
    headers = tokens.headers(account_id="a1", tenant_id="brand-a", roles=["admin"], session_id="s1")
    async with service_running(SPEC, settings, tokens) as url, aiohttp.ClientSession() as http:

        async def ready() -> bool:
            async with http.get(f"{url}/readyz") as resp:
                report = await resp.json()
                return resp.status == 200 and report["checks"]["revocations"] == "ok"

        await wait_until(ready, "the revocations to be read", timeout=10)
        async with http.get(f"{url}/items", headers=headers) as resp:
            assert resp.status == 200  # verified, and kept in the verifier's cache

        await producer.send_and_wait(isolated.topic_prefix + SESSION_TOPIC, revoked("s1"), key=b"a1")
        deadline = time.monotonic() + 1
        status = 200
        while status != 401 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            async with http.get(f"{url}/items", headers=headers) as resp:
                status = resp.status
        assert status == 401


async def test_a_service_refuses_to_start_with_a_verifier_blind_to_revocations(
    isolated: Isolated, tokens: TokenMinter
) -> None:
    def own_verifier(app: web.Application) -> None:
        app[VERIFIER] = TokenVerifier(tokens.source)  # forgot the app's REVOCATIONS

    with pytest.raises(RuntimeError, match="REVOCATIONS"):
        await start(SPEC, isolated.service_settings("sample", role="api"), configure=own_verifier)
