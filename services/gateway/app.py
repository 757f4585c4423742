"""The gateway: one HTTP entry point routing /api/<service>/... and gathering docs and event catalogs."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from pydantic import Field

from libs.common.http import CORRELATION_ID, REQUEST_ID, AppRunner, Problem, ReadinessCheck, create_app
from libs.common.settings import ServiceSettings
from services.gateway.asyncapi import asyncapi_document

log = structlog.get_logger(__name__)

SERVICES = ("identity", "catalog", "ordering", "loyalty", "notify")
FORWARDED_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    "Accept-Language",
    "Idempotency-Key",
    "X-Platform-Key",
)
FORWARDED_RESPONSE_HEADERS = (
    "Content-Type",
    "Location",
    "Idempotent-Replayed",
    "WWW-Authenticate",
    "Allow",
    "Retry-After",
)
# Operational endpoints stay on the services' own ports, for operators and Prometheus only.
PRIVATE_PATHS = ("metrics",)


class Settings(ServiceSettings):
    service_name: str = "gateway"
    http_port: int = 8080
    identity_url: str = "http://127.0.0.1:8081"
    catalog_url: str = "http://127.0.0.1:8082"
    ordering_url: str = "http://127.0.0.1:8083"
    loyalty_url: str = "http://127.0.0.1:8084"
    notify_url: str = "http://127.0.0.1:8085"
    upstream_timeout_s: float = Field(10.0, description="Longest wait for a service's answer")
    # Each service enforces its own limits (catalog takes 10 MiB documents); the gateway only stops
    # what no service would take.
    http_max_body_bytes: int = Field(16 * 1_048_576, description="Largest request body forwarded")

    def upstreams(self) -> dict[str, str]:
        return {name: str(getattr(self, f"{name}_url")).rstrip("/") for name in SERVICES}


class Upstreams:
    """The services behind the gateway and the HTTP client that reaches them."""

    def __init__(self, settings: Settings) -> None:
        self.urls = settings.upstreams()
        self.timeout = aiohttp.ClientTimeout(total=settings.upstream_timeout_s, connect=2)
        self._client: aiohttp.ClientSession | None = None

    @property
    def client(self) -> aiohttp.ClientSession:
        assert self._client is not None, "used before the app started"
        return self._client

    async def lifetime(self, app: web.Application) -> AsyncIterator[None]:
        self._client = aiohttp.ClientSession(auto_decompress=False)
        yield
        await self._client.close()

    def readiness(self, name: str) -> ReadinessCheck:
        async def check() -> None:
            url = self.urls[name] + "/readyz"
            async with self.client.get(url, timeout=aiohttp.ClientTimeout(total=1.5)) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"{name} not ready ({resp.status})")

        return check


UPSTREAMS = web.AppKey("upstreams", Upstreams)


def create_gateway(settings: Settings) -> web.Application:
    upstreams = Upstreams(settings)
    app = create_app(
        service="gateway",
        max_body_bytes=settings.http_max_body_bytes,
        readiness=[(name, upstreams.readiness(name)) for name in upstreams.urls],
    )
    app[UPSTREAMS] = upstreams
    app.cleanup_ctx.append(upstreams.lifetime)
    app.router.add_get("/openapi/{service}.json", openapi)
    app.router.add_get("/events/catalog.json", event_catalog)
    app.router.add_get("/events/asyncapi.json", asyncapi)
    app.router.add_route("*", "/api/{service}/{tail:.*}", proxy)
    return app


def _upstream(request: web.Request) -> str:
    name = request.match_info["service"]
    base = request.app[UPSTREAMS].urls.get(name)
    if base is None:
        raise Problem(404, "Unknown service", detail=f"no service named {name!r}")
    return base


async def proxy(request: web.Request) -> web.StreamResponse:
    """Forward a request to its service with the caller's token and the correlation id."""
    base = _upstream(request)
    tail = request.match_info["tail"]
    if tail.split("/", 1)[0] in PRIVATE_PATHS:
        raise Problem(404, "Not Found")
    headers = {h: request.headers[h] for h in FORWARDED_REQUEST_HEADERS if h in request.headers}
    headers |= {"X-Request-Id": request[REQUEST_ID], "X-Correlation-Id": request[CORRELATION_ID]}
    body = await request.read() if request.can_read_body else None
    url = f"{base}/{tail}"
    try:
        async with request.app[UPSTREAMS].client.request(
            request.method,
            url,
            params=request.query,
            data=body,
            headers=headers,
            timeout=request.app[UPSTREAMS].timeout,
            allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            out = {h: upstream.headers[h] for h in FORWARDED_RESPONSE_HEADERS if h in upstream.headers}
            return web.Response(status=upstream.status, body=payload, headers=out)
    except TimeoutError as exc:
        raise Problem(
            504,
            "Upstream timeout",
            type="upstream-timeout",
            detail=f"{request.match_info['service']} did not answer in time",
        ) from exc
    except aiohttp.ClientError as exc:
        log.warning("upstream unreachable", service=request.match_info["service"], error=repr(exc))
        raise Problem(
            503,
            "Service unavailable",
            type="service-unavailable",
            detail=f"{request.match_info['service']} cannot be reached",
            headers={"Retry-After": "1"},
        ) from exc


async def _fetch_json(request: web.Request, url: str) -> Any:
    try:
        async with request.app[UPSTREAMS].client.get(url, timeout=request.app[UPSTREAMS].timeout) as resp:
            resp.raise_for_status()
            return await resp.json()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Problem(503, "Service unavailable", type="service-unavailable", detail=f"{url} failed") from exc


async def openapi(request: web.Request) -> web.Response:
    """A service's OpenAPI document, with its server set to its path behind the gateway."""
    name = request.match_info["service"]
    document = await _fetch_json(request, _upstream(request) + "/openapi.json")
    document["servers"] = [{"url": f"/api/{name}"}]
    return web.json_response(document)


async def _catalogs(request: web.Request) -> dict[str, Mapping[str, Any]]:
    urls = request.app[UPSTREAMS].urls
    return {name: await _fetch_json(request, base + "/events.json") for name, base in urls.items()}


async def event_catalog(request: web.Request) -> web.Response:
    """Every published event type, by service, with its topic and JSON Schema."""
    return web.json_response(await _catalogs(request))


async def asyncapi(request: web.Request) -> web.Response:
    """An AsyncAPI 3.0 document of every topic, built from what each service says it publishes."""
    return web.json_response(asyncapi_document(await _catalogs(request)))


async def serve(settings: Settings) -> None:
    """Serve until SIGINT or SIGTERM."""
    runner = AppRunner(create_gateway(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    log.info("service started", service="gateway", port=settings.http_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        log.info("service stopped", service="gateway")
