"""The gateway in front of stand-in services: routing, limits, failures, readiness and catalogs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from libs.common.http import AppRunner
from libs.common.stack import free_port
from services.gateway.app import SERVICES, Settings, create_gateway

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


def stand_in(name: str) -> web.Application:
    """A service that echoes what it received."""

    async def echo(request: web.Request) -> web.Response:
        if request.path.endswith("/slow"):
            await asyncio.sleep(2)
        return web.json_response(
            {
                "service": name,
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "body": (await request.read()).decode(),
                "headers": {k.lower(): v for k, v in request.headers.items()},
            },
            status=201 if request.method == "POST" else 200,
        )

    async def events(request: web.Request) -> web.Response:
        return web.json_response(EVENTS if name == "loyalty" else {})

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response({"openapi": "3.1.0", "info": {"title": name}, "paths": {}})

    app = web.Application()
    app.router.add_get("/events.json", events)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[aiohttp.ClientSession, str, dict[str, web.AppRunner]]]:
    runners: dict[str, web.AppRunner] = {}
    urls: dict[str, Any] = {}
    for name in SERVICES:
        runner = web.AppRunner(stand_in(name))
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners[name] = runner
        urls[f"{name}_url"] = f"http://127.0.0.1:{port}"
    settings = Settings(http_max_body_bytes=1024, upstream_timeout_s=0.5, **urls)
    gateway_runner = AppRunner(create_gateway(settings))
    await gateway_runner.setup()
    port = free_port()
    await web.TCPSite(gateway_runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as http:
        yield http, f"http://127.0.0.1:{port}", runners
    await gateway_runner.cleanup()
    for runner in runners.values():
        await runner.cleanup()


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
        assert set((await resp.json())["checks"]) == set(SERVICES)
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
