"""Wiring of the notify service: its settings, events, consumers, routes and message dispatcher."""

from __future__ import annotations

from pathlib import Path

from libs.common.events import EventCatalog
from libs.common.runtime import ServiceSpec
from services.notify.api import ENDPOINTS
from services.notify.consumers import HANDLERS
from services.notify.dispatch import dispatch_messages
from services.notify.settings import Settings

__all__ = ["SPEC", "Settings"]

SPEC = ServiceSpec(
    name="notify",
    folder=Path(__file__).parent,
    events=EventCatalog("notify", []),  # notify publishes nothing yet
    handlers=HANDLERS,
    endpoints=ENDPOINTS,
    workers=[dispatch_messages],
)
