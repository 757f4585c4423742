"""The time a service reads: one clock, given to the service when it is composed.

A service's `build_spec(settings, clock)` passes the clock to whatever needs the time (use cases,
workers); the runtime puts it on the app under `CLOCK` for handlers. Tests pass a clock they can
move; production runs on `utc_now`.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from aiohttp import web
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


CLOCK = web.AppKey[Clock]("clock")


def now(request: web.Request) -> datetime:
    """The service's time, for a handler."""
    return request.app[CLOCK]()


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _known_time_zone(name: str) -> str:
    if name not in _time_zones():
        raise PydanticCustomError("time_zone", "must be an IANA time zone name, such as Europe/Paris or UTC")
    return name


TimeZoneName = Annotated[str, AfterValidator(_known_time_zone)]
"""An IANA time zone name (`Europe/Paris`, `UTC`), as the tz database spells it; `zoneinfo.ZoneInfo`
reads it. The database comes from the system, or else from the `tzdata` package."""
