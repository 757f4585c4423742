"""The portal's wiring: its settings, the app factory and the process that serves it."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp_jinja2
import asyncpg
import jinja2
import structlog
from aiohttp import web
from pydantic import Field

from libs.common.events import EventCatalog
from libs.common.http import AppRunner
from libs.common.runtime import ServiceSpec, open_service, service_app
from libs.common.settings import ServiceSettings
from services.portal import (
    account,
    admin,
    approvals,
    balance,
    cart,
    checkout,
    delivery,
    i18n,
    loyalty,
    partner,
    people,
    returns,
    signup,
    statistics,
)
from services.portal.gateway import Gateway
from services.portal.sessions import SessionStore
from services.portal.web import (
    GATEWAY,
    POLICY,
    PUBLIC_URL,
    SESSIONS,
    TENANTS,
    TRANSLATIONS,
    TenantDirectory,
    content_security_policy,
    portal_middleware,
)

log = structlog.get_logger(__name__)

SERVICE = "portal"
FOLDER = Path(__file__).parent


class Settings(ServiceSettings):
    service_name: str = SERVICE
    http_port: int = 8086
    gateway_url: str = Field(
        "http://127.0.0.1:8080",
        description="The gateway as the portal reaches it; the gateway must list the portal's network in"
        " its TRUSTED_PROXIES, so that it limits and locks by the browser's address",
    )
    api_timeout_s: float = Field(
        10.0, gt=0, description="Longest wait for an API answer before the page says to try again"
    )


# The portal's screens, one module per area, each with its routes.
AREAS = (
    signup,
    account,
    partner,
    cart,
    checkout,
    balance,
    returns,
    approvals,
    delivery,
    statistics,
    people,
    loyalty,
    admin,
)

SPEC = ServiceSpec(name=SERVICE, folder=FOLDER, events=EventCatalog(SERVICE, []))


def add_portal(app: web.Application, pool: asyncpg.Pool, settings: Settings) -> None:
    """The portal's pages, templates, static files and session store on `app`."""
    gateway = Gateway(settings.gateway_url, settings.api_timeout_s)
    app[GATEWAY] = gateway
    app[PUBLIC_URL] = settings.public_url.rstrip("/")
    provider = urlsplit(settings.payment_provider_url)
    app[POLICY] = content_security_policy(f"{provider.scheme}://{provider.netloc}")
    app[SESSIONS] = SessionStore(pool, gateway)
    app[TRANSLATIONS] = i18n.load_translations()
    app[TENANTS] = TenantDirectory()
    app.cleanup_ctx.append(gateway.lifetime)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(FOLDER / "templates"),
        extensions=["jinja2.ext.i18n"],
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters |= {"money": i18n.money, "moment": i18n.moment, "day": i18n.day, "number": i18n.number}
    env.filters |= {
        "role_name": i18n.role_name,
        "calendar_day": i18n.calendar_day,
        "percent": i18n.percent,
        "amount": i18n.amount,
    }
    env.globals |= i18n.TEMPLATE_GLOBALS
    app[aiohttp_jinja2.static_root_key] = "/static"
    app.middlewares.append(portal_middleware)
    app.router.add_static("/static", FOLDER / "static", append_version=True)
    for area in AREAS:
        app.router.add_routes(area.ROUTES)


async def serve(settings: Settings) -> None:
    """Serve the portal until SIGINT or SIGTERM."""
    service = await open_service(SPEC, settings)
    app = service_app(service)
    add_portal(app, service.pool, settings)
    runner = AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    log.info("service started", service=SERVICE, port=settings.http_port, gateway=settings.gateway_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await service.pool.close()
        log.info("service stopped", service=SERVICE)
