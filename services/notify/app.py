"""Wiring of the notify service: its settings, events, consumers, routes and message dispatcher."""

from __future__ import annotations

import functools
from pathlib import Path

from libs.common.clock import Clock, utc_now
from libs.common.events import EventCatalog
from libs.common.runtime import ServiceSpec
from services.notify.api import ENDPOINTS
from services.notify.consumers import HANDLERS
from services.notify.dispatch import dispatch_messages
from services.notify.settings import Settings

__all__ = ["Settings", "build_spec"]


def build_spec(settings: Settings, clock: Clock = utc_now) -> ServiceSpec:
    """The service under these settings: the dispatcher sends with them."""
    return ServiceSpec(
        name="notify",
        folder=Path(__file__).parent,
        events=EventCatalog("notify", []),  # notify publishes nothing yet
        handlers=HANDLERS,
        endpoints=ENDPOINTS,
        workers=[functools.partial(dispatch_messages, settings=settings, clock=clock)],
        clock=clock,
    )
