"""Wiring of the ordering service: its settings, events, consumers and routes."""

from __future__ import annotations

from pathlib import Path

from libs.common.events import EventCatalog
from libs.common.runtime import ServiceSpec
from libs.common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "ordering"
    http_port: int = 8083


SPEC = ServiceSpec(name="ordering", folder=Path(__file__).parent, events=EventCatalog("ordering", []))
