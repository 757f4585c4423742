"""The gateway in front of stand-in services: routing, limits, failures, readiness and catalogs."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from libs.common.http import AppRunner
from libs.devstack.processes import free_port
from services.gateway.app import SERVICES, Settings, create_gateway, create_operator

pytestmark = pytest.mark.fast

EVENTS = {
    "loyalty.points.awarded": {
        "topic": "loyalty.points.v1",
        "version": 1,
        "internal": False,
        "dataschema": "urn:comptoir:event:loyalty.points.awarded:v1",
        "schema": {
            "title": "PointsAwarded",
            "type": "object",
            "properties": {"cause": {"$ref": "#/$defs/Cause"}},
            "$defs": {"Cause": {"type": "object", "properties": {"id": {"type": "string"}}}},
        },
    }
}


SEEN = web.AppKey("seen", list[str])
UPSTREAM_METRICS = "# the service's own metrics\n"


def stand_in(name: str) -> web.Application:
    """A service that echoes what it received, with operational routes and a download."""

    async def echo(request: web.Request) -> web.Response:
        request.app[SEEN].append(request.raw_path)
        if request.path.endswith("/slow"):
            await asyncio.sleep(2)
        return web.json_response(
            {
                "service": name,
                "method": request.method,
                "path": request.path,
                "raw_path": request.raw_path,
                "query": dict(request.query),
                "body": (await request.read()).decode(),
                "headers": {k.lower(): v for k, v in request.headers.items()},
            },
            status=201 if request.method == "POST" else 200,
        )

    async def product(request: web.Request) -> web.Response:
        return web.json_response({"route": "product", "code": request.match_info["code"]})

    async def events(request: web.Request) -> web.Response:
        return web.json_response(EVENTS if name == "loyalty" else {})

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response({"openapi": "3.1.0", "info": {"title": name}, "paths": {}})

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=UPSTREAM_METRICS)

    async def download(request: web.Request) -> web.Response:
        return web.Response(
            body=b"code;price\n",
            content_type="text/csv",
            headers={
                "Content-Disposition": 'attachment; filename="prices.csv"',
                "Cache-Control": "private, no-store",
                "ETag": '"abc"',
                "X-Content-Type-Options": "nosniff",
                "Vary": "Authorization",
                "Connection": "close, X-Internal",
                "X-Internal": "hop-by-hop, named in Connection",
                "Keep-Alive": "timeout=5",
            },
        )

    async def compressed(request: web.Request) -> web.Response:
        body = gzip.compress(json.dumps({"compressed": True}).encode())
        return web.Response(body=body, content_type="application/json", headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app[SEEN] = []
    app.router.add_get("/compressed", compressed)
    app.router.add_get("/events.json", events)
    app.router.add_get("/openapi.json", openapi)
    for private in ("/metrics", "/readyz", "/healthz"):
        app.router.add_get(private, metrics)
    app.router.add_get("/products/{code}", product)
    app.router.add_get("/price-lists/mine/file", download)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


UPSTREAMS = (*SERVICES, "portal")
"""What the gateway forwards to: the API's services, and the web portal for every other path."""
Gateway = tuple[aiohttp.ClientSession, str, dict[str, web.AppRunner]]
StartGateway = Callable[..., Awaitable[str]]


@pytest.fixture
async def upstreams() -> AsyncIterator[dict[str, web.AppRunner]]:
    runners: dict[str, web.AppRunner] = {}
    for name in UPSTREAMS:
        runner = web.AppRunner(stand_in(name))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", free_port()).start()
        runners[name] = runner
    yield runners
    for runner in runners.values():
        await runner.cleanup()


@pytest.fixture
async def start_gateway(upstreams: dict[str, web.AppRunner]) -> AsyncIterator[StartGateway]:
    """Starts a gateway in front of the stand-ins with these settings; returns its public URL (its
    operator port is the `operator_port` setting, when given)."""
    runners: list[web.AppRunner] = []

    async def start(**overrides: Any) -> str:
        urls = {f"{name}_url": _url_of(runner) for name, runner in upstreams.items()}
        settings = Settings(**(dict(http_max_body_bytes=1024, upstream_timeout_s=0.5) | urls | overrides))
        gateway = create_gateway(settings)
        public, operator = AppRunner(gateway), AppRunner(create_operator(gateway))
        for runner in (public, operator):
            await runner.setup()
            runners.append(runner)
        await web.TCPSite(operator, "127.0.0.1", settings.operator_port).start()
        port = free_port()
        await web.TCPSite(public, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


def _url_of(runner: web.AppRunner) -> str:
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}"


@pytest.fixture
async def gateway(upstreams: dict[str, web.AppRunner], start_gateway: StartGateway) -> AsyncIterator[Gateway]:
    url = await start_gateway(operator_port=free_port())
    async with aiohttp.ClientSession() as http:
        yield http, url, upstreams


async def raw_get(url: str, target: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    """GET a request target exactly as written: no client resolves its dots or re-encodes it."""
    parsed = URL(url)
    assert parsed.host is not None and parsed.port is not None
    reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    writer.write(f"GET {target} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n{extra}\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_routes_to_the_named_service_with_method_path_query_body_and_caller_headers(
    gateway: Any,
) -> None:
    http, url, _ = gateway
    headers = {
        "Authorization": "Bearer t",
        "Idempotency-Key": "k1",
        "X-Correlation-Id": "journey-7",
        "Cookie": "secret=1",
    }
    async with http.post(f"{url}/api/ordering/orders?x=1", json={"a": 1}, headers=headers) as resp:
        assert resp.status == 201
        seen = await resp.json()
        assert resp.headers["X-Correlation-Id"] == "journey-7"
    assert (seen["service"], seen["method"], seen["path"], seen["query"]) == (
        "ordering",
        "POST",
        "/orders",
        {"x": "1"},
    )
    assert seen["body"] == '{"a": 1}'
    assert seen["headers"]["authorization"] == "Bearer t"
    assert seen["headers"]["idempotency-key"] == "k1"
    assert seen["headers"]["x-correlation-id"] == "journey-7"
    assert "cookie" not in seen["headers"]


async def test_unknown_service_and_private_paths_are_404_problems(gateway: Any) -> None:
    http, url, _ = gateway
    for path in ("/api/nope/x", "/api/loyalty/metrics"):
        async with http.get(url + path) as resp:
            assert resp.status == 404
            assert resp.content_type == "application/problem+json"


async def test_oversized_body_is_refused_before_reaching_the_service(gateway: Any) -> None:
    http, url, _ = gateway
    async with http.post(
        f"{url}/api/ordering/orders", data=b"x" * 5000, headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 413


async def test_slow_service_is_a_504_and_a_down_one_a_503(gateway: Any) -> None:
    http, url, runners = gateway
    async with http.get(f"{url}/api/catalog/slow") as resp:
        assert resp.status == 504
    await runners["notify"].cleanup()
    async with http.get(f"{url}/api/notify/messages") as resp:
        assert resp.status == 503
        assert (await resp.json())["type"] == "urn:comptoir:problem:service-unavailable"


async def test_readiness_names_every_service_and_fails_when_one_is_down(gateway: Any) -> None:
    http, url, runners = gateway
    async with http.get(f"{url}/readyz") as resp:
        assert resp.status == 200
        assert set((await resp.json())["checks"]) == set(UPSTREAMS)
    await runners["loyalty"].cleanup()
    async with http.get(f"{url}/readyz") as resp:
        assert resp.status == 503
        checks = (await resp.json())["checks"]
    assert checks["identity"] == "ok" and checks["loyalty"] != "ok"


async def test_openapi_and_event_catalogs_are_gathered_from_the_services(gateway: Any) -> None:
    http, url, _ = gateway
    async with http.get(f"{url}/openapi/catalog.json") as resp:
        assert (await resp.json())["servers"] == [{"url": "/api/catalog"}]
    async with http.get(f"{url}/events/catalog.json") as resp:
        assert (await resp.json())["loyalty"] == EVENTS
    async with http.get(f"{url}/events/asyncapi.json") as resp:
        doc = await resp.json()
    assert doc["asyncapi"] == "3.0.0"
    assert doc["channels"]["loyalty_points_v1"]["address"] == "loyalty.points.v1"
    message = doc["components"]["messages"]["loyalty_points_awarded"]
    assert message["payload"]["properties"]["data"]["properties"]["cause"] == {
        "$ref": "#/components/schemas/Cause"
    }
    assert "Cause" in doc["components"]["schemas"]


# --- Paths: decided on the normalised path, forwarded exactly as decided -------------------------

BYPASSES = [
    "./metrics",
    "x/../metrics",
    "%2e/metrics",
    "%2E/metrics",
    "x/%2e%2e/metrics",
    "..%2fmetrics",
    "%2e%2e%2fmetrics",
    ".%2fmetrics",
    "/metrics",
    "metrics/",
    "metrics?x=1",
    "%6detrics",
    "readyz",
    "./healthz",
]


@pytest.mark.parametrize("tail", BYPASSES)
async def test_no_spelling_of_a_private_path_reaches_any_service(gateway: Gateway, tail: str) -> None:
    _, url, _ = gateway
    for service in SERVICES:
        status, body = await raw_get(url, f"/api/{service}/{tail}")
        assert status in (400, 404), (service, tail, status, body)
        assert UPSTREAM_METRICS.encode() not in body
        assert json.loads(body)["type"] in (
            "urn:comptoir:problem:not-found",
            "urn:comptoir:problem:invalid-path",
        )


@pytest.mark.parametrize(
    "target",
    [
        "/api/identity/../catalog/x",
        "/api/identity/%2e%2e/catalog/x",
        "/api/identity/x/../../catalog/x",
        "/api/%2e%2e/identity/x",
        "/api/identity/a%00b",
        "/api/identity/a%2Fb",
        "/api/identity/a%zzb",
        "/api/identity/a%ffb",
    ],
)
async def test_a_path_the_gateway_cannot_forward_faithfully_is_a_400_problem(
    gateway: Gateway, target: str
) -> None:
    _, url, upstreams = gateway
    status, body = await raw_get(url, target)
    assert status == 400, body
    assert json.loads(body)["type"] == "urn:comptoir:problem:invalid-path"
    assert all(runner.app[SEEN] == [] for runner in upstreams.values())


async def test_encoded_characters_in_a_path_parameter_reach_the_same_route_still_encoded(
    gateway: Gateway,
) -> None:
    _, url, _ = gateway
    for raw, code in [
        ("a%23b", "a#b"),
        ("a%3Fb", "a?b"),
        ("a%25b", "a%b"),
        ("caf%C3%A9", "café"),
        ("a%20b", "a b"),
    ]:
        status, body = await raw_get(url, f"/api/catalog/products/{raw}")
        assert (status, json.loads(body)) == (200, {"route": "product", "code": code}), raw
    status, body = await raw_get(url, "/api/ordering/x/./a%23b/y/..?q=a%2Bb&x=%23&x=2")
    assert json.loads(body)["raw_path"] == "/x/a%23b/?q=a%2Bb&x=%23&x=2"


# --- Headers ---------------------------------------------------------------------------------------

SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


def assert_secured(headers: Mapping[str, str], what: str) -> None:
    assert {k: headers.get(k) for k in SECURITY} == SECURITY, what
    assert "Server" not in headers, what
    assert "Strict-Transport-Security" not in headers, what


async def test_a_download_keeps_every_end_to_end_header_and_loses_the_hop_by_hop_ones(
    gateway: Gateway,
) -> None:
    http, url, _ = gateway
    async with http.get(f"{url}/api/catalog/price-lists/mine/file") as resp:
        assert resp.status == 200 and await resp.read() == b"code;price\n"
        headers = resp.headers
    assert headers["Content-Disposition"] == 'attachment; filename="prices.csv"'
    assert headers["Cache-Control"] == "private, no-store"
    assert headers["ETag"] == '"abc"'
    assert headers["Vary"] == "Authorization"
    assert headers["Content-Type"].startswith("text/csv")
    assert "X-Internal" not in headers and "Keep-Alive" not in headers
    assert_secured(headers, "a proxied answer")


async def test_a_compressed_answer_keeps_its_content_encoding(gateway: Gateway) -> None:
    http, url, _ = gateway
    async with http.get(f"{url}/api/loyalty/compressed") as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert await resp.json() == {"compressed": True}


async def test_the_gateways_own_answers_and_problems_carry_the_security_headers(gateway: Gateway) -> None:
    http, url, runners = gateway
    await runners["notify"].cleanup()
    for method, path, status in [
        ("GET", "/metrics", 404),
        ("GET", "/api/nope/x", 404),
        ("GET", "/api/loyalty/metrics", 404),
        ("POST", "/api/ordering/orders", 413),
        ("GET", "/api/notify/messages", 503),
        ("GET", "/healthz", 200),
        ("GET", "/openapi/catalog.json", 200),
    ]:
        async with http.request(method, url + path, data=b"x" * 5000 if method == "POST" else None) as resp:
            assert resp.status == status, path
            assert_secured(resp.headers, path)


async def test_hsts_only_when_the_request_came_over_https_through_a_trusted_proxy(
    start_gateway: StartGateway,
) -> None:
    trusting = await start_gateway(operator_port=free_port(), trusted_proxies=["127.0.0.0/8"])
    edge = await start_gateway(operator_port=free_port())
    async with aiohttp.ClientSession() as http:
        https = {"X-Forwarded-Proto": "https"}
        async with http.get(f"{trusting}/api/catalog/x", headers=https) as resp:
            assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
        async with http.get(f"{trusting}/nope", headers=https) as resp:
            assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
        async with http.get(f"{trusting}/api/catalog/x") as resp:
            assert "Strict-Transport-Security" not in resp.headers
        async with http.get(f"{edge}/api/catalog/x", headers=https) as resp:
            assert "Strict-Transport-Security" not in resp.headers


async def test_the_platform_key_is_forwarded_only_when_the_setting_says_so(
    start_gateway: StartGateway,
) -> None:
    closed = await start_gateway(operator_port=free_port())
    open_ = await start_gateway(operator_port=free_port(), platform_key_forwarding=True)
    async with aiohttp.ClientSession() as http:
        for url, expected in ((closed, None), (open_, "k")):
            async with http.post(f"{url}/api/identity/tenants", headers={"X-Platform-Key": "k"}) as resp:
                assert (await resp.json())["headers"].get("x-platform-key") == expected


# --- Client addresses and rate limits --------------------------------------------------------------


async def test_services_see_the_address_the_gateway_saw_not_one_a_client_claims(
    start_gateway: StartGateway,
) -> None:
    edge = await start_gateway(operator_port=free_port())
    behind_proxy = await start_gateway(operator_port=free_port(), trusted_proxies=["127.0.0.0/8"])
    async with aiohttp.ClientSession() as http:
        claimed = {"X-Forwarded-For": "203.0.113.9"}
        async with http.get(f"{edge}/api/identity/x", headers=claimed) as resp:
            assert (await resp.json())["headers"]["x-forwarded-for"] == "127.0.0.1"
        async with http.get(f"{edge}/api/identity/x") as resp:
            assert (await resp.json())["headers"]["x-forwarded-for"] == "127.0.0.1"
        # A trusted proxy's word is taken: its last entry is the client it saw.
        forwarded = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
        async with http.get(f"{behind_proxy}/api/identity/x", headers=forwarded) as resp:
            assert (await resp.json())["headers"]["x-forwarded-for"] == "203.0.113.9"


async def test_a_burst_over_the_limit_is_a_429_with_retry_after_and_is_not_forwarded(
    upstreams: dict[str, web.AppRunner], start_gateway: StartGateway
) -> None:
    url = await start_gateway(
        operator_port=free_port(), rate_limit_burst=3, rate_limit_per_s=30, trusted_proxies=["127.0.0.0/8"]
    )
    async with aiohttp.ClientSession() as http:

        async def get(n: int, client: str) -> aiohttp.ClientResponse:
            async with http.get(f"{url}/api/loyalty/n{n}", headers={"X-Forwarded-For": client}) as resp:
                await resp.read()
                return resp

        statuses = [(await get(n, "203.0.113.9")).status for n in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = await get(5, "203.0.113.9")
        assert refused.status == 429 and refused.content_type == "application/problem+json"
        assert int(refused.headers["Retry-After"]) >= 1
        assert_secured(refused.headers, "a 429")
        assert (await get(6, "198.51.100.7")).status == 200  # another address, its own bucket
    assert upstreams["loyalty"].app[SEEN] == ["/n0", "/n1", "/n2", "/n6"]


# --- Probes and metrics ----------------------------------------------------------------------------


async def test_the_public_readiness_names_services_and_the_operator_port_says_why(
    upstreams: dict[str, web.AppRunner], start_gateway: StartGateway
) -> None:
    operator_port = free_port()
    url = await start_gateway(operator_port=operator_port)
    operator = f"http://127.0.0.1:{operator_port}"
    await upstreams["loyalty"].cleanup()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/readyz") as resp:
            assert resp.status == 503
            public = await resp.json()
        async with http.get(f"{operator}/readyz") as resp:
            assert resp.status == 503
            detailed = await resp.json()
        async with http.get(f"{url}/metrics") as resp:
            assert resp.status == 404
        async with http.get(f"{operator}/metrics") as resp:
            assert resp.status == 200
            assert (
                'comptoir_http_request_duration_seconds_count{method="GET",route="/readyz",'
                in await resp.text()
            )
    assert public["checks"] == {name: "ok" for name in UPSTREAMS} | {"loyalty": "unavailable"}
    assert detailed["checks"]["identity"] == "ok"
    assert "127.0.0.1" in detailed["checks"]["loyalty"]  # the reason, with the address: operators only


async def test_every_path_outside_the_api_is_the_portals_with_the_browsers_cookies_and_address(
    gateway: Gateway,
) -> None:
    http, url, _ = gateway
    headers = {"Cookie": "comptoir_session=abc", "X-CSRF-Token": "t", "HX-Request": "true"}
    async with http.post(f"{url}/brand-a/quick-order?x=1", data=b"lines=A+1", headers=headers) as resp:
        assert resp.status == 201
        seen = await resp.json()
    assert (
        seen["service"] == "portal" and seen["path"] == "/brand-a/quick-order" and seen["query"] == {"x": "1"}
    )
    assert seen["body"] == "lines=A+1"
    forwarded = seen["headers"]
    assert forwarded["cookie"] == "comptoir_session=abc" and forwarded["x-csrf-token"] == "t"
    assert forwarded["hx-request"] == "true"
    assert forwarded["x-forwarded-for"] == "127.0.0.1" and forwarded["x-forwarded-proto"] == "http"
    # The API never gets the browser's cookies.
    async with http.get(f"{url}/api/loyalty/x", headers=headers) as resp:
        assert "cookie" not in (await resp.json())["headers"]


async def test_the_portals_private_paths_are_not_forwarded(gateway: Gateway) -> None:
    http, url, runners = gateway
    for path in ("/metrics", "/readyz/x", "/events.json", "/openapi.json"):
        async with http.get(url + path) as resp:
            assert resp.status == 404, path
    assert not [p for p in runners["portal"].app[SEEN] if p.startswith(("/metrics", "/events", "/openapi"))]


async def test_a_portal_that_does_not_answer_gives_a_page_saying_to_come_back(gateway: Gateway) -> None:
    http, url, runners = gateway
    await runners["portal"].cleanup()
    async with http.get(f"{url}/brand-a/catalog") as resp:
        assert resp.status == 503 and resp.content_type == "text/html"
        assert "Try again in a moment" in await resp.text()
        assert_secured(resp.headers, "the portal's outage page")
