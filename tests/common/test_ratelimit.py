from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from libs.common.http import Problem, client_address, create_app
from libs.common.ratelimit import Rate, RateLimiter

pytestmark = pytest.mark.fast


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_each_key_waits_for_its_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(burst=3, per_s=3.0), clock=clock)
    assert [limiter.hit("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.hit("a") == pytest.approx(1.0)
    assert limiter.hit("b") == 0.0  # another key has its own bucket
    clock.now += 1.0
    assert limiter.hit("a") == 0.0
    assert limiter.hit("a") > 0


def test_check_raises_a_429_with_retry_after_in_whole_seconds() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(burst=1, per_s=10.0), clock=clock)
    limiter.check("a")
    with pytest.raises(Problem) as refused:
        limiter.check("a")
    assert refused.value.status == 429
    assert refused.value.headers["Retry-After"] == "10"


def test_memory_stays_bounded_under_a_flood_of_distinct_keys() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(burst=2, per_s=60.0), max_keys=100, clock=clock)
    for n in range(10_000):
        limiter.hit(f"k{n}")
    assert len(limiter._buckets) <= 101


def _request(peer: str, forwarded: str | None, trusted: tuple[str, ...]) -> web.Request:
    app = create_app(service="t", trusted_proxies=trusted)
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    transport_peer = (peer, 1234)

    class Transport:
        def get_extra_info(self, name: str, default: object = None) -> object:
            return transport_peer if name == "peername" else default

        def is_closing(self) -> bool:
            return False

    return make_mocked_request("GET", "/", headers=headers, app=app, transport=Transport())


def test_forwarded_address_is_believed_only_from_a_trusted_proxy() -> None:
    assert client_address(_request("127.0.0.1", "203.0.113.9", ("127.0.0.0/8",))) == "203.0.113.9"
    assert client_address(_request("198.51.100.7", "203.0.113.9", ("127.0.0.0/8",))) == "198.51.100.7"
    # A proxy appends what it saw: the last entry is the one the trusted proxy vouches for.
    assert client_address(_request("127.0.0.1", "1.2.3.4, 203.0.113.9", ("127.0.0.0/8",))) == "203.0.113.9"
    assert client_address(_request("127.0.0.1", "not-an-address", ("127.0.0.0/8",))) == "127.0.0.1"
    assert client_address(_request("127.0.0.1", None, ("127.0.0.0/8",))) == "127.0.0.1"
