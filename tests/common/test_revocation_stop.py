"""A revocation feed stops when its app stops, even when the Kafka client turns the cancellation into
an error of its own (a reader that swallowed it would start again and hang the shutdown)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiokafka.errors import KafkaConnectionError

from libs.common import revocation
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


class SwallowingConsumer:
    """A Kafka client whose poll swallows a cancellation and answers nothing, as asyncio.wait_for
    does in Python 3.11 when what it waits for completes at the moment of the cancel."""

    def __init__(self, **_: object) -> None:
        pass

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def assign(self, partitions: object) -> None:
        pass

    async def offsets_for_times(self, query: dict[object, int]) -> dict[object, None]:
        return dict.fromkeys(query)

    async def seek_to_end(self, *partitions: object) -> None:
        pass

    def highwater(self, partition: object) -> int:
        return 0

    async def position(self, partition: object) -> int:
        return 0

    async def getmany(self, timeout_ms: int = 0) -> dict[object, list[object]]:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(timeout_ms / 1000)
        return {}


async def test_a_feed_whose_client_swallows_the_cancellation_stops_all_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_topics(*_: object) -> None:
        pass

    monkeypatch.setattr(revocation, "AIOKafkaConsumer", SwallowingConsumer)
    monkeypatch.setattr(revocation, "ensure_topics", no_topics)
    feed = RevocationFeed(Revocations(capacity=10), FeedConfig(bootstrap_servers="127.0.0.1:9", topic="t"))
    reader = asyncio.create_task(feed.run())
    await asyncio.wait_for(feed.caught_up.wait(), 5)
    reader.cancel()
    done, _ = await asyncio.wait({reader}, timeout=3)
    assert reader in done and reader.cancelled()


class NeverStops(RevocationFeed):
    """A reader whose client keeps the cancellation and goes on reading, until the test lets it go."""

    released = False

    async def run(self) -> None:
        while not self.released:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)


async def test_a_reader_that_will_not_stop_does_not_hang_the_apps_shutdown() -> None:
    feed = NeverStops(Revocations(capacity=10), FeedConfig(bootstrap_servers="127.0.0.1:9", topic="t"))
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with feed.running(stop_timeout=0.2):
        await asyncio.sleep(0.05)
    assert loop.time() - started < 2
    left = [task for task in asyncio.all_tasks() if task.get_name() == "session-revocations"]
    assert len(left) == 1  # left behind, logged, and the shutdown went on
    feed.released = True
    left[0].cancel()
    await asyncio.wait(left, timeout=2)
