"""Rate limits: a token bucket per key (a client address, an account), kept in the process's memory.

Each process limits what it sees. Several replicas of a service each allow the full rate, so an
operator running N replicas divides the setting by N or puts a shared limiter in front.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from libs.common.http import Problem


@dataclass(frozen=True)
class Rate:
    """`burst` requests at once, refilled evenly over `per_s` seconds."""

    burst: int
    per_s: float

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_s <= 0:
            raise ValueError(f"a rate needs a burst of at least 1 and a positive period, not {self}")


class RateLimiter:
    """Token buckets by key. `hit` spends one token or says how long until one is back.

    Memory is bounded: buckets that have refilled are forgotten, and past `max_keys` the least
    recently used key goes, so a flood of distinct keys cannot grow the process.
    """

    def __init__(
        self, rate: Rate, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self._refill = rate.burst / rate.per_s  # tokens per second
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when counted)

    def hit(self, key: str, cost: float = 1.0) -> float:
        """Spend `cost` tokens of `key`'s bucket: 0.0 when allowed, else the seconds to wait."""
        now = self._clock()
        tokens = self._tokens(key, now)
        if tokens < cost:
            return (cost - tokens) / self._refill
        self._buckets.pop(key, None)  # re-inserted last: the dict's order is recency
        self._buckets[key] = (tokens - cost, now)
        self._forget_old(now)
        return 0.0

    def retry_after(self, key: str, cost: float = 1.0) -> float:
        """Like `hit` without spending: the seconds until `cost` tokens are there, 0.0 if now."""
        tokens = self._tokens(key, self._clock())
        return 0.0 if tokens >= cost else (cost - tokens) / self._refill

    def check(self, key: str, cost: float = 1.0) -> None:
        """Spend a token of `key` or raise a 429 problem with `Retry-After`."""
        wait = self.hit(key, cost)
        if wait > 0:
            raise too_many_requests(wait)

    def _tokens(self, key: str, now: float) -> float:
        held = self._buckets.get(key)
        if held is None:
            return float(self.rate.burst)
        tokens, then = held
        return min(float(self.rate.burst), tokens + (now - then) * self._refill)

    def _forget_old(self, now: float) -> None:
        if len(self._buckets) <= self._max_keys:
            return
        full = [
            k
            for k, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * self._refill >= self.rate.burst
        ]
        for key in full:
            del self._buckets[key]
        while len(self._buckets) > self._max_keys:
            del self._buckets[next(iter(self._buckets))]


def too_many_requests(wait_s: float, detail: str = "too many requests; try again later") -> Problem:
    """The 429 problem for a wait of `wait_s` seconds, rounded up in `Retry-After`."""
    return Problem(
        429,
        "Too Many Requests",
        type="rate-limited",
        detail=detail,
        headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
    )
