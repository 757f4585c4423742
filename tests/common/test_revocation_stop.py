"""A revocation feed stops when its app stops, even when the Kafka client turns the cancellation into
an error of its own (a reader that swallowed it would start again and hang the shutdown)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError

from libs.common.auth import Revocations
from libs.common.revocation import FeedConfig, RevocationFeed

pytestmark = pytest.mark.fast


class CancelledAsBrokerError(RevocationFeed):
    """A reader whose client answers a cancellation with a broker error."""

    started = 0

    async def _follow(self) -> None:
        self.started += 1
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise KafkaConnectionError("connection closed while stopping") from None


async def test_a_feed_stopping_while_its_client_fails_stops_for_good() -> None:
    feed = CancelledAsBrokerError(
        Revocations(capacity=10), FeedConfig(bootstrap_servers="127.0.0.1:9", topic="t")
    )
    reader = asyncio.create_task(feed.run())
    await asyncio.sleep(0.05)
    reader.cancel()
    done, _ = await asyncio.wait({reader}, timeout=2)
    assert reader in done and reader.cancelled()
    assert feed.started == 1  # stopped, not started again
