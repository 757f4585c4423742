"""The time a service reads: one clock, given to the service when it is composed.

A service's `build_spec(settings, clock)` passes the clock to whatever needs the time (use cases,
workers); the runtime puts it on the app under `CLOCK` for handlers. Tests pass a clock they can
move; production runs on `utc_now`.
"""

from __future__ import annotations

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


def _known_time_zone(name: str) -> str:
    # Loading the one zone asked for (zoneinfo keeps it), not listing the database: that walks
    # every file of it, 28 ms on the first request of each process.
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # unknown, a path, a folder
        raise PydanticCustomError(
            "time_zone", "must be an IANA time zone name, such as Europe/Paris or UTC"
        ) from None
    return name


TimeZoneName = Annotated[str, AfterValidator(_known_time_zone)]
"""An IANA time zone name (`Europe/Paris`, `UTC`), as the tz database spells it; `zoneinfo.ZoneInfo`
reads it. The database comes from the system, or else from the `tzdata` package."""
