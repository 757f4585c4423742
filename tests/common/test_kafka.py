"""The consumers' fetch wait follows their traffic: short while events come, long when quiet."""

from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.consumer.fetcher import Fetcher

from libs.common.kafka import FetchWait

pytestmark = pytest.mark.fast


def consumer(wait_ms: int = 500) -> Any:
    return SimpleNamespace(_fetcher=SimpleNamespace(_fetch_max_wait_ms=wait_ms))


def test_a_started_wait_is_the_busy_one_and_doubles_per_empty_poll_up_to_the_idle_one() -> None:
    kafka = consumer()
    wait = FetchWait(kafka, busy_ms=25, idle_ms=300)
    assert kafka._fetcher._fetch_max_wait_ms == 25
    seen = []
    for _ in range(6):
        wait.after_poll(got_records=False)
        seen.append(kafka._fetcher._fetch_max_wait_ms)
    assert seen == [50, 100, 200, 300, 300, 300]


def test_records_bring_the_wait_back_to_the_busy_one_at_once() -> None:
    kafka = consumer()
    wait = FetchWait(kafka, busy_ms=25, idle_ms=1000)
    for _ in range(10):
        wait.after_poll(got_records=False)
    assert wait.current_ms == 1000
    wait.after_poll(got_records=True)
    assert wait.current_ms == 25


def test_an_idle_wait_below_the_busy_one_is_the_busy_one() -> None:
    wait = FetchWait(consumer(), busy_ms=100, idle_ms=10)
    wait.after_poll(got_records=False)
    assert wait.current_ms == 100


def test_a_consumer_without_the_attribute_is_refused_at_start() -> None:
    with pytest.raises(RuntimeError, match="FetchWait needs updating"):
        FetchWait(SimpleNamespace(_fetcher=SimpleNamespace()), busy_ms=25, idle_ms=1000)  # type: ignore[arg-type]


def test_aiokafkas_fetcher_reads_the_attribute_it_sets() -> None:
    """The attribute FetchWait changes is the one aiokafka's fetcher builds its requests from."""
    source = Fetcher.__init__.__code__.co_names + Fetcher._get_actions_per_node.__code__.co_names
    assert "_fetch_max_wait_ms" in source
