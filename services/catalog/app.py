"""Wiring of the catalog service: its settings, events, consumers and routes."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from pydantic import Field

from libs.common.clock import Clock, utc_now
from libs.common.events import EventCatalog
from libs.common.runtime import ServiceSpec
from libs.common.settings import ServiceSettings
from services.catalog import api, consumers, files_api, imports_api, pricing_api, settings_api
from services.catalog.access import LIMITS, Limits
from services.catalog.events import EVENTS, SERVICE


class Settings(ServiceSettings):
    service_name: str = SERVICE
    http_port: int = 8082
    upload_max_bytes: int = Field(
        10 * 1_048_576,
        gt=0,
        description="Largest document (PDF) or digital asset an admin may upload: 413 above",
    )
    import_max_bytes: int = Field(
        5 * 1_048_576, gt=0, description="Largest CSV or XLSX import file: 413 above"
    )
    import_max_lines: int = Field(
        5_000, gt=0, description="Most lines (besides the header) in one import file"
    )

    def limits(self) -> Limits:
        return Limits(self.upload_max_bytes, self.import_max_bytes, self.import_max_lines)


def build_spec(settings: Settings, clock: Clock = utc_now) -> ServiceSpec:
    """The service under these settings. Prices are resolved at the clock's time: validity dates
    take effect at their instant, with no event."""
    limits = settings.limits()

    def setup_api(app: web.Application) -> None:
        app[LIMITS] = limits

    return ServiceSpec(
        name=SERVICE,
        folder=Path(__file__).parent,
        events=EventCatalog(SERVICE, EVENTS),
        handlers=consumers.HANDLERS,
        endpoints=[
            *api.ENDPOINTS,
            *pricing_api.ENDPOINTS,
            *files_api.ENDPOINTS,
            *imports_api.ENDPOINTS,
            *settings_api.ENDPOINTS,
        ],
        api=setup_api,
        clock=clock,
    )
