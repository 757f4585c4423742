"""The gateway: one HTTP entry point routing /api/<service>/... and gathering docs and event catalogs."""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, unquote_to_bytes

import aiohttp
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict
from pydantic import Field
from yarl import URL

from libs.common.http import (
    CORRELATION_ID,
    REQUEST_ID,
    AppRunner,
    Problem,
    ReadinessCheck,
    client_address,
    create_app,
    from_trusted_proxy,
    operator_app,
)
from libs.common.payments import SIGNATURE_HEADER
from libs.common.ratelimit import Rate, RateLimiter
from libs.common.settings import ServiceSettings
from services.gateway.asyncapi import asyncapi_document

log = structlog.get_logger(__name__)

SERVICES = ("identity", "catalog", "ordering", "loyalty", "notify")
# Requests carry only what services read: no cookies, no hop-by-hop headers, nothing a client could
# use to pass for another (X-Forwarded-For is the gateway's to set).
FORWARDED_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Idempotency-Key",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "If-Unmodified-Since",
    "Prefer",
    "User-Agent",
    SIGNATURE_HEADER,  # a payment provider's signed notice
)
# The portal's pages also need the browser's cookies, its form origin and htmx's headers.
PORTAL_REQUEST_HEADERS = (
    "Content-Type",
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Cookie",
    "Origin",
    "User-Agent",
    "If-None-Match",
    "If-Modified-Since",
    "X-CSRF-Token",
    "HX-Request",
    "HX-Boosted",
    "HX-Current-URL",
    "HX-Target",
    "HX-Trigger",
    "HX-History-Restore-Request",
)
PLATFORM_KEY_HEADER = "X-Platform-Key"
# Responses carry every end-to-end header but these (RFC 9110 section 7.6.1), and those the gateway
# sets itself: the length of what it sends, its own date, no server banner.
HOP_BY_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
SET_BY_GATEWAY = frozenset({"content-length", "date", "server"})
# On every answer, proxied or the gateway's own. The API is never framed nor sniffed.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}
HSTS = "max-age=31536000"
# Operational endpoints stay on the services' own ports, for operators and Prometheus only.
PRIVATE_PATHS = ("metrics", "readyz", "healthz")
PORTAL_PRIVATE_PATHS = (*PRIVATE_PATHS, "events.json", "openapi.json")
# A path segment's characters forwarded as they are (RFC 3986 pchar); everything else is
# percent-encoded, "%", "/", "?" and "#" included.
_PCHAR_SAFE = "!$&'()*+,;=:@"
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


PORTAL_UNAVAILABLE = "\n".join(
    (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Comptoir</title></head><body>",
        "<h1>Réessayez dans un instant</h1>",
        "<p>Le portail ne répond pas pour le moment. Rechargez la page dans un instant.</p>",
        '<h1 lang="en">Try again in a moment</h1>',
        '<p lang="en">The portal is not answering right now. Reload the page in a moment.</p>',
        '<h1 lang="ru">Повторите попытку чуть позже</h1>',
        '<p lang="ru">Портал сейчас не отвечает. Обновите страницу чуть позже.</p>',
        "</body></html>",
    )
)


class Settings(ServiceSettings):
    service_name: str = "gateway"
    http_port: int = 8080
    operator_port: int = Field(
        8090, description="Serves /healthz, the detailed /readyz and /metrics, for operators and Prometheus"
    )
    operator_host: str | None = Field(None, description="Where the operator port listens; HTTP_HOST if unset")
    identity_url: str = "http://127.0.0.1:8081"
    catalog_url: str = "http://127.0.0.1:8082"
    ordering_url: str = "http://127.0.0.1:8083"
    loyalty_url: str = "http://127.0.0.1:8084"
    notify_url: str = "http://127.0.0.1:8085"
    portal_url: str = Field("http://127.0.0.1:8086", description="The web portal: every path outside /api")
    upstream_timeout_s: float = Field(10.0, description="Longest wait for a service's answer")
    # Each service enforces its own limits (catalog takes 10 MiB documents); the gateway only stops
    # what no service would take.
    http_max_body_bytes: int = Field(16 * 1_048_576, description="Largest request body forwarded")
    trusted_proxies: list[str] = Field(
        [],
        description="Networks whose X-Forwarded-For and X-Forwarded-Proto the gateway believes: your"
        " load balancer's or Ingress controller's (a JSON list of CIDRs). The gateway is the edge:"
        " none by default",
    )
    rate_limit_burst: int = Field(200, description="Requests a client address may send at once")
    rate_limit_per_s: float = Field(
        10.0, description="Seconds to refill a client address's whole burst (200 per 10 s: 20 requests/s)"
    )
    platform_key_forwarding: bool = Field(
        False,
        description="Forward X-Platform-Key, which lets its holder create tenants, to identity; off, the"
        " gateway drops it and tenants are created on identity's own port only",
    )

    def upstreams(self) -> dict[str, str]:
        return {name: str(getattr(self, f"{name}_url")).rstrip("/") for name in SERVICES}


class Upstreams:
    """The services behind the gateway and the HTTP client that reaches them."""

    def __init__(self, settings: Settings) -> None:
        self.urls = settings.upstreams()
        self.portal_url = settings.portal_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=settings.upstream_timeout_s, connect=2)
        self.request_headers = FORWARDED_REQUEST_HEADERS + (
            (PLATFORM_KEY_HEADER,) if settings.platform_key_forwarding else ()
        )
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
            url = (self.portal_url if name == "portal" else self.urls[name]) + "/readyz"
            async with self.client.get(url, timeout=aiohttp.ClientTimeout(total=1.5)) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"{name} not ready ({resp.status})")

        return check


UPSTREAMS = web.AppKey("upstreams", Upstreams)
LIMITER = web.AppKey("limiter", RateLimiter)


def create_gateway(settings: Settings) -> web.Application:
    """The public app: the services under /api/<service>/, their documents, and probes that say
    only which services are ready. `create_operator(app)` serves the details and /metrics."""
    upstreams = Upstreams(settings)
    app = create_app(
        service="gateway",
        max_body_bytes=settings.http_max_body_bytes,
        readiness=_readiness(upstreams),
        middlewares=[_rate_limit],
        trusted_proxies=settings.trusted_proxies,
        operator_routes=False,
    )
    app[UPSTREAMS] = upstreams
    app[LIMITER] = RateLimiter(Rate(settings.rate_limit_burst, settings.rate_limit_per_s))
    app.cleanup_ctx.append(upstreams.lifetime)
    app.on_response_prepare.append(_security_headers)
    app.router.add_get("/openapi/{service}.json", openapi)
    app.router.add_get("/events/catalog.json", event_catalog)
    app.router.add_get("/events/asyncapi.json", asyncapi)
    app.router.add_route("*", "/api/{service}/{tail:.*}", proxy)
    app.router.add_route("*", "/{tail:.*}", portal)
    return app


def _readiness(upstreams: Upstreams) -> list[tuple[str, ReadinessCheck]]:
    return [(name, upstreams.readiness(name)) for name in [*upstreams.urls, "portal"]]


def create_operator(gateway: web.Application) -> web.Application:
    """The operator's app of a gateway: /healthz, /readyz with each failing service's reason, /metrics."""
    upstreams = gateway[UPSTREAMS]
    return operator_app(service="gateway", readiness=_readiness(upstreams))


@web.middleware
async def _rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request counts against its client address's bucket; over it, a 429 and nothing forwarded."""
    request.app[LIMITER].check(client_address(request))
    return await handler(request)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    # The portal's pages bring their own, stricter policy; everything else gets the gateway's.
    headers.update({k: v for k, v in SECURITY_HEADERS.items() if k != "Content-Security-Policy"})
    headers.setdefault("Content-Security-Policy", SECURITY_HEADERS["Content-Security-Policy"])
    if _over_https(request):
        headers["Strict-Transport-Security"] = HSTS
    # aiohttp adds its name and version, and so would a service's answer: say nothing.
    headers.popall("Server", None)


def _over_https(request: web.Request) -> bool:
    if request.secure:
        return True
    if not from_trusted_proxy(request):
        return False
    proto = request.headers.get("X-Forwarded-Proto", "").rsplit(",", 1)[-1].strip().lower()
    return proto == "https"


def _invalid_path(detail: str) -> Problem:
    return Problem(400, "Invalid path", type="invalid-path", detail=detail)


def _decoded(segment: str) -> str:
    if _BAD_ESCAPE.search(segment):
        raise _invalid_path("a '%' that does not start a percent-encoded byte")
    try:
        decoded = unquote_to_bytes(segment).decode()
    except UnicodeDecodeError:
        raise _invalid_path("a percent-encoded segment that is not UTF-8") from None
    if "/" in decoded:
        raise _invalid_path("an encoded '/' in a segment")
    if "\x00" in decoded:
        raise _invalid_path("a NUL character in a segment")
    return decoded


def normalised_path(raw_path: str) -> tuple[list[str], bool]:
    """The segments of a raw request path, percent-decoded once, with "." and ".." resolved (their
    encoded forms too) and empty segments dropped; and whether the path ends with a "/".

    Refused with a 400 problem: a segment that decodes to something holding "/" or NUL, malformed
    percent-encoding, and a ".." that would climb above /api/<service>/.
    """
    segments: list[str] = []
    parts = raw_path.split("/")[1:]
    for part in parts:
        segment = _decoded(part)
        if segment in ("", "."):
            continue
        if segment == "..":
            if len(segments) <= 2:
                raise _invalid_path("'..' climbs above the service's root")
            segments.pop()
            continue
        segments.append(segment)
    trailing_slash = bool(parts) and _decoded(parts[-1]) in ("", ".", "..")
    return segments, trailing_slash


def _target(request: web.Request) -> tuple[str, str]:
    """(service, path to forward): decided once, on the normalised path, and forwarded re-encoded
    exactly as decided, so no service resolves anything the gateway did not see."""
    segments, trailing_slash = normalised_path(request.rel_url.raw_path)
    if len(segments) < 2 or segments[0] != "api":
        raise Problem(404, "Not Found")
    service, tail = segments[1], segments[2:]
    if service not in request.app[UPSTREAMS].urls:
        raise Problem(404, "Unknown service", detail=f"no service named {service!r}")
    if tail and tail[0] in PRIVATE_PATHS:
        raise Problem(404, "Not Found")
    path = "/" + "/".join(quote(segment, safe=_PCHAR_SAFE) for segment in tail)
    if trailing_slash and tail:
        path += "/"
    return service, path


def _upstream(request: web.Request) -> str:
    name = request.match_info["service"]
    base = request.app[UPSTREAMS].urls.get(name)
    if base is None:
        raise Problem(404, "Unknown service", detail=f"no service named {name!r}")
    return base


def _request_headers(request: web.Request) -> dict[str, str]:
    upstreams = request.app[UPSTREAMS]
    headers = {h: request.headers[h] for h in upstreams.request_headers if h in request.headers}
    # The client session would ask for gzip and, not decompressing, pass it to a client that did not.
    headers.setdefault("Accept-Encoding", "identity")
    headers["X-Forwarded-For"] = client_address(request)
    headers |= {"X-Request-Id": request[REQUEST_ID], "X-Correlation-Id": request[CORRELATION_ID]}
    return headers


def _response_headers(request: web.Request, upstream: aiohttp.ClientResponse) -> CIMultiDict[str]:
    named_in_connection = {
        name.strip().lower()
        for value in upstream.headers.getall("Connection", [])
        for name in value.split(",")
    }
    dropped = HOP_BY_HOP_HEADERS | SET_BY_GATEWAY | named_in_connection
    out = CIMultiDict((k, v) for k, v in upstream.headers.items() if k.lower() not in dropped)
    if request.method == "HEAD" and "Content-Length" in upstream.headers:
        out["Content-Length"] = upstream.headers["Content-Length"]  # of the body a GET would get
    return out


async def proxy(request: web.Request) -> web.StreamResponse:
    """Forward a request to its service with the caller's token, its address and the correlation id."""
    service, path = _target(request)
    return await _forward(
        request, service, request.app[UPSTREAMS].urls[service] + path, _request_headers(request)
    )


async def portal(request: web.Request) -> web.StreamResponse:
    """Every path outside /api is a page of the web portal: forwarded with the browser's cookies."""
    segments, trailing_slash = normalised_path(request.rel_url.raw_path)
    if segments and segments[0] in PORTAL_PRIVATE_PATHS:
        raise Problem(404, "Not Found")
    path = "/" + "/".join(quote(segment, safe=_PCHAR_SAFE) for segment in segments)
    if trailing_slash and segments:
        path += "/"
    upstreams = request.app[UPSTREAMS]
    headers = {h: request.headers[h] for h in PORTAL_REQUEST_HEADERS if h in request.headers}
    headers.setdefault("Accept-Encoding", "identity")
    headers["X-Forwarded-For"] = client_address(request)
    headers["X-Forwarded-Proto"] = "https" if _over_https(request) else "http"
    headers |= {"X-Request-Id": request[REQUEST_ID], "X-Correlation-Id": request[CORRELATION_ID]}
    try:
        return await _forward(request, "portal", upstreams.portal_url + path, headers)
    except Problem as problem:
        if problem.status not in (503, 504):
            raise
        # A person at a browser, not a program: a page saying to come back, in the three languages.
        return web.Response(
            status=503, text=PORTAL_UNAVAILABLE, content_type="text/html", headers={"Retry-After": "5"}
        )


async def _forward(request: web.Request, service: str, target: str, headers: dict[str, str]) -> web.Response:
    upstreams = request.app[UPSTREAMS]
    body = await request.read() if request.can_read_body else None
    query = request.rel_url.raw_query_string
    url = URL(target + (f"?{query}" if query else ""), encoded=True)
    try:
        async with upstreams.client.request(
            request.method,
            url,
            data=body,
            headers=headers,
            timeout=upstreams.timeout,
            allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            return web.Response(
                status=upstream.status, body=payload, headers=_response_headers(request, upstream)
            )
    except TimeoutError as exc:
        raise Problem(
            504, "Upstream timeout", type="upstream-timeout", detail=f"{service} did not answer in time"
        ) from exc
    except aiohttp.ClientError as exc:
        log.warning("upstream unreachable", service=service, error=repr(exc))
        raise Problem(
            503,
            "Service unavailable",
            type="service-unavailable",
            detail=f"{service} cannot be reached",
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
    """Serve the public port and the operator port until SIGINT or SIGTERM."""
    gateway = create_gateway(settings)
    runner = AppRunner(gateway, access_log=None)
    operator = AppRunner(create_operator(gateway), access_log=None)
    await runner.setup()
    await operator.setup()
    await web.TCPSite(operator, settings.operator_host or settings.http_host, settings.operator_port).start()
    await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    log.info(
        "service started",
        service="gateway",
        port=settings.http_port,
        operator_port=settings.operator_port,
        rate_limit=f"{settings.rate_limit_burst} per {settings.rate_limit_per_s:g} s per client address",
        platform_key_forwarding=settings.platform_key_forwarding,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await operator.cleanup()
        log.info("service stopped", service="gateway")
