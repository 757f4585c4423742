"""Wiring of the notify service: its settings, events, consumers and routes."""

from __future__ import annotations

from pathlib import Path

from libs.common.events import EventCatalog
from libs.common.runtime import ServiceSpec
from libs.common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "notify"
    http_port: int = 8085


SPEC = ServiceSpec(name="notify", folder=Path(__file__).parent, events=EventCatalog("notify", []))
