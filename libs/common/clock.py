"""The time a service reads: one clock, given to the service when it is composed.

A service's `build_spec(settings, clock)` passes the clock to whatever needs the time (use cases,
workers); the runtime puts it on the app under `CLOCK` for handlers. Tests pass a clock they can
move; production runs on `utc_now`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


CLOCK = web.AppKey[Clock]("clock")


def now(request: web.Request) -> datetime:
    """The service's time, for a handler."""
    return request.app[CLOCK]()
