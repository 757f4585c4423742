"""Wiring of the catalog service: its settings, events, consumers and routes."""

from __future__ import annotations

from pathlib import Path

from libs.common.events import EventCatalog
from libs.common.runtime import ServiceSpec
from libs.common.settings import ServiceSettings
from services.catalog.api import ENDPOINTS
from services.catalog.events import SERVICE, ProductCreated, ProductUpdated


class Settings(ServiceSettings):
    service_name: str = SERVICE
    http_port: int = 8082


# Catalog consumes nothing yet: it has no handlers.
SPEC = ServiceSpec(
    name=SERVICE,
    folder=Path(__file__).parent,
    events=EventCatalog(SERVICE, [ProductCreated, ProductUpdated]),
    endpoints=ENDPOINTS,
)
