"""Wiring of the catalog service: its settings, events, consumers and routes."""

from __future__ import annotations

from pathlib import Path

from libs.common.events import EventCatalog
from libs.common.runtime import ServiceSpec
from libs.common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "catalog"
    http_port: int = 8082


SPEC = ServiceSpec(name="catalog", folder=Path(__file__).parent, events=EventCatalog("catalog", []))
