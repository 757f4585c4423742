"""The shared aiohttp factory: problems for bad input and failures, correlation ids, probes, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from pydantic import BaseModel, ConfigDict

from libs.common import http
from libs.common.http import (
    CORRELATION_ID,
    REQUEST_ID,
    AppRunner,
    Problem,
    ReadinessCheck,
    create_app,
    json_response,
    preferred_wait,
    read_json,
    read_query,
)
from libs.devstack.processes import free_port

pytestmark = pytest.mark.fast

Client = TestClient[web.Request, web.Application]
Serve = Callable[[web.Application], Awaitable[Client]]
PROBLEM_JSON = "application/problem+json"


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str
    quantity: int


class PlaceOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: str
    lines: list[Line]


class OrderPlaced(BaseModel):
    customer: str
    units: int


async def place_order(request: web.Request) -> web.Response:
    command = await read_json(request, PlaceOrder)
    placed = OrderPlaced(customer=command.customer, units=sum(line.quantity for line in command.lines))
    return json_response(placed, status=201)


async def list_orders(request: web.Request) -> web.Response:
    return json_response([OrderPlaced(customer="ada", units=1), OrderPlaced(customer="bob", units=2)])


async def show_order(request: web.Request) -> web.Response:
    return json_response({"id": request.match_info["order_id"]})


async def pay_order(request: web.Request) -> web.Response:
    raise Problem(409, "Order already paid", type="order-already-paid", detail="Order 7 was paid at 10:02.")


async def crash(request: web.Request) -> web.Response:
    raise RuntimeError("secret detail")


async def old_orders(request: web.Request) -> web.Response:
    raise web.HTTPFound("/orders")


async def whoami(request: web.Request) -> web.Response:
    context = structlog.contextvars.get_contextvars()
    return json_response(
        {
            "request_id": request[REQUEST_ID],
            "correlation_id": request[CORRELATION_ID],
            "logged_request_id": context.get("request_id"),
            "logged_correlation_id": context.get("correlation_id"),
            "logged_causation_id": context.get("causation_id"),
            "logged_keys": sorted(context),
        }
    )


@web.middleware
async def require_token(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path.startswith("/private") and "Authorization" not in request.headers:
        raise Problem(401, "Unauthorized", headers={"WWW-Authenticate": "Bearer"})
    response: web.StreamResponse = await handler(request)
    return response


async def private(request: web.Request) -> web.Response:
    return json_response({"secret": "yes"})


def orders_app(**options: Any) -> web.Application:
    app = create_app(service="orders-test", middlewares=[require_token], **options)
    app.router.add_post("/orders", place_order)
    app.router.add_get("/orders", list_orders)
    app.router.add_get("/orders/{order_id}", show_order)
    app.router.add_post("/orders/{order_id}/payment", pay_order)
    app.router.add_get("/crash", crash)
    app.router.add_get("/old-orders", old_orders)
    app.router.add_get("/whoami", whoami)
    app.router.add_get("/private", private)
    return app


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    async with contextlib.AsyncExitStack() as stack:

        async def start(app: web.Application) -> Client:
            return await stack.enter_async_context(TestClient(TestServer(app)))

        yield start


@pytest.fixture
async def client(serve: Serve) -> Client:
    return await serve(orders_app())


def valid_order() -> dict[str, Any]:
    return {"customer": "ada", "lines": [{"sku": "tea", "quantity": 2}, {"sku": "cup", "quantity": 1}]}


async def problem_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM_JSON
    body: dict[str, Any] = await response.json(content_type=PROBLEM_JSON)
    assert body["status"] == status
    return body


# --- Request bodies -------------------------------------------------------------------------------


async def test_valid_order_is_read_into_the_model_and_answered_as_json(client: Client) -> None:
    response = await client.post("/orders", json=valid_order())
    assert response.status == 201
    assert response.content_type == "application/json"
    assert await response.json() == {"customer": "ada", "units": 3}


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/vnd.comptoir.order+json"]
)
async def test_json_content_type_variants_are_accepted(client: Client, content_type: str) -> None:
    response = await client.post(
        "/orders", data=b'{"customer": "ada", "lines": []}', headers={"Content-Type": content_type}
    )
    assert response.status == 201


async def test_list_of_models_is_answered_as_a_json_array(client: Client) -> None:
    response = await client.get("/orders")
    assert await response.json() == [{"customer": "ada", "units": 1}, {"customer": "bob", "units": 2}]


async def test_malformed_json_is_a_400_problem(client: Client) -> None:
    response = await client.post(
        "/orders", data=b'{"customer": "ada",', headers={"Content-Type": "application/json"}
    )
    body = await problem_of(response, 400)
    assert body["type"] == "urn:comptoir:problem:malformed-json"
    assert body["instance"] == "/orders"


async def test_empty_body_is_a_400_problem(client: Client) -> None:
    response = await client.post("/orders", data=b"", headers={"Content-Type": "application/json"})
    body = await problem_of(response, 400)
    assert body["type"] == "urn:comptoir:problem:malformed-json"


async def test_unknown_field_is_a_422_naming_the_field(client: Client) -> None:
    response = await client.post("/orders", json={**valid_order(), "discount": 100})
    body = await problem_of(response, 422)
    assert body["type"] == "urn:comptoir:problem:validation-error"
    assert body["errors"] == [
        {"field": "discount", "message": "Extra inputs are not permitted", "type": "extra_forbidden"}
    ]


async def test_wrong_type_is_a_422_with_the_field_path(client: Client) -> None:
    order = valid_order()
    order["lines"][1]["quantity"] = "a few"
    response = await client.post("/orders", json=order)
    body = await problem_of(response, 422)
    assert [(e["field"], e["type"]) for e in body["errors"]] == [("lines.1.quantity", "int_type")]
    assert "a few" not in await response.text()


async def test_body_over_the_limit_is_a_413_problem(serve: Serve) -> None:
    client = await serve(orders_app(max_body_bytes=1024))
    order = {"customer": "x" * 10_000, "lines": []}
    response = await client.post("/orders", json=order)
    body = await problem_of(response, 413)
    assert body["type"] == "urn:comptoir:problem:payload-too-large"


async def test_body_under_the_limit_is_accepted(serve: Serve) -> None:
    client = await serve(orders_app(max_body_bytes=1024))
    response = await client.post("/orders", json=valid_order())
    assert response.status == 201


async def test_wrong_content_type_is_a_415_problem(client: Client) -> None:
    response = await client.post("/orders", data=b"customer=ada", headers={"Content-Type": "text/plain"})
    body = await problem_of(response, 415)
    assert body["type"] == "urn:comptoir:problem:unsupported-media-type"


# --- Errors ---------------------------------------------------------------------------------------


async def test_unknown_route_is_a_404_problem(client: Client) -> None:
    response = await client.get("/nowhere")
    body = await problem_of(response, 404)
    assert body["type"] == "urn:comptoir:problem:not-found"
    assert body["title"] == "Not Found"
    assert body["instance"] == "/nowhere"


async def test_wrong_method_is_a_405_problem_with_allow_header(client: Client) -> None:
    response = await client.delete("/orders")
    body = await problem_of(response, 405)
    assert body["type"] == "urn:comptoir:problem:method-not-allowed"
    assert set(response.headers["Allow"].split(",")) >= {"GET", "POST"}


async def test_raised_problem_keeps_its_status_type_title_and_detail(client: Client) -> None:
    response = await client.post("/orders/7/payment")
    body = await problem_of(response, 409)
    assert body == {
        "type": "urn:comptoir:problem:order-already-paid",
        "title": "Order already paid",
        "status": 409,
        "detail": "Order 7 was paid at 10:02.",
        "instance": "/orders/7/payment",
    }


async def test_problem_from_an_extra_middleware_is_rendered_with_its_headers(client: Client) -> None:
    response = await client.get("/private")
    body = await problem_of(response, 401)
    assert body["type"] == "urn:comptoir:problem:unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (await client.get("/private", headers={"Authorization": "Bearer t"})).status == 200


async def test_unexpected_error_is_a_500_problem_that_reveals_nothing(client: Client) -> None:
    with structlog.testing.capture_logs() as logs:
        response = await client.get("/crash")
    body = await problem_of(response, 500)
    assert body["type"] == "urn:comptoir:problem:internal-error"
    assert body["title"] == "Internal Server Error"
    text = await response.text()
    assert "secret detail" not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text
    [logged] = [entry for entry in logs if entry["log_level"] == "error"]
    assert logged["exc_info"] is True
    assert logged["path"] == "/crash"


async def test_redirect_passes_through_unchanged(client: Client) -> None:
    response = await client.get("/old-orders", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/orders"
    assert response.content_type != PROBLEM_JSON
    assert response.headers["X-Request-Id"]


# --- Correlation ----------------------------------------------------------------------------------


async def test_request_and_correlation_ids_are_echoed_and_bound_to_logs(client: Client) -> None:
    response = await client.get(
        "/whoami", headers={"X-Request-Id": "req-1.a_B", "X-Correlation-Id": "checkout-42"}
    )
    assert response.headers["X-Request-Id"] == "req-1.a_B"
    assert response.headers["X-Correlation-Id"] == "checkout-42"
    assert await response.json() == {
        "request_id": "req-1.a_B",
        "correlation_id": "checkout-42",
        "logged_request_id": "req-1.a_B",
        "logged_correlation_id": "checkout-42",
        "logged_causation_id": None,
        "logged_keys": ["causation_id", "correlation_id", "request_id"],
    }


async def test_ids_are_generated_when_absent_and_correlation_defaults_to_request_id(client: Client) -> None:
    first = await client.get("/whoami")
    second = await client.get("/whoami")
    request_id = first.headers["X-Request-Id"]
    assert len(request_id) == 32
    assert first.headers["X-Correlation-Id"] == request_id
    assert (await first.json())["logged_correlation_id"] == request_id
    assert second.headers["X-Request-Id"] != request_id


@pytest.mark.parametrize("insane", ["a" * 129, "bad id", "x<script>", "é"])
async def test_insane_incoming_ids_are_replaced(client: Client, insane: str) -> None:
    response = await client.get("/whoami", headers={"X-Request-Id": insane, "X-Correlation-Id": insane})
    request_id = response.headers["X-Request-Id"]
    assert request_id != insane
    assert len(request_id) == 32
    assert response.headers["X-Correlation-Id"] == request_id


async def test_ids_are_echoed_on_error_responses(client: Client) -> None:
    response = await client.get("/crash", headers={"X-Request-Id": "r-500", "X-Correlation-Id": "c-500"})
    assert response.status == 500
    assert response.headers["X-Request-Id"] == "r-500"
    assert response.headers["X-Correlation-Id"] == "c-500"


async def test_log_context_bound_outside_the_request_does_not_leak_into_it(serve: Serve) -> None:
    with structlog.contextvars.bound_contextvars(user_id="someone-else"):
        client = await serve(orders_app())
    body = await (await client.get("/whoami")).json()
    assert body["logged_keys"] == ["causation_id", "correlation_id", "request_id"]


# --- Probes and metrics ---------------------------------------------------------------------------


async def test_healthz_reports_the_service_alive(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "service": "orders-test"}


async def ok() -> None:
    return None


async def refuse() -> None:
    raise ConnectionRefusedError("broker at kafka:9092 refused")


async def hang() -> None:
    await asyncio.sleep(30)


async def readiness_of(serve: Serve, checks: list[tuple[str, ReadinessCheck]]) -> tuple[int, Any]:
    client = await serve(orders_app(readiness=checks, readiness_timeout=0.2))
    response = await client.get("/readyz")
    return response.status, await response.json()


async def test_readyz_is_ready_when_every_check_passes(serve: Serve) -> None:
    status, body = await readiness_of(serve, [("database", ok), ("broker", ok)])
    assert status == 200
    assert body == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


async def test_readyz_is_unavailable_naming_the_failing_check(serve: Serve) -> None:
    status, body = await readiness_of(serve, [("database", ok), ("broker", refuse)])
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert "broker at kafka:9092 refused" in body["checks"]["broker"]


async def test_readyz_is_unavailable_when_a_check_hangs_past_the_timeout(serve: Serve) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, body = await readiness_of(serve, [("database", hang), ("broker", hang), ("cache", ok)])
    assert loop.time() - started < 1.5  # checks run concurrently, each bounded
    assert status == 503
    assert body["checks"] == {
        "database": "timed out after 0.2s",
        "broker": "timed out after 0.2s",
        "cache": "ok",
    }


async def test_metrics_label_requests_by_route_template_not_raw_path(serve: Serve) -> None:
    app = create_app(service="metrics-test")
    app.router.add_get("/orders/{order_id}", show_order)
    client = await serve(app)
    assert (await client.get("/orders/ord-8f3a91")).status == 200
    await client.get("/no/such/thing-77")

    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await response.text()
    counts = [
        line
        for line in text.splitlines()
        if line.startswith("comptoir_http_request_duration_seconds_count{")
        and 'service="metrics-test"' in line
    ]
    assert any('route="/orders/{order_id}"' in line and 'status="200"' in line for line in counts), counts
    assert any('route="unmatched"' in line and 'status="404"' in line for line in counts), counts
    assert "ord-8f3a91" not in text
    assert "thing-77" not in text


async def test_metrics_show_how_long_blocking_work_held_the_event_loop(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "LOOP_LAG_INTERVAL", 0.1)  # shorter than the block: it is always seen

    async def block(request: web.Request) -> web.Response:
        time.sleep(0.3)  # noqa: ASYNC251 — blocking the loop is exactly what the probe must reveal
        return web.Response()

    app = create_app(service="lag-test")
    app.router.add_get("/block", block)
    client = await serve(app)
    await asyncio.sleep(0.25)  # the probe's first rounds, with nothing blocking
    assert (await client.get("/block")).status == 200
    await asyncio.sleep(0.25)

    text = await (await client.get("/metrics")).text()
    buckets = {
        line.split('le="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("comptoir_event_loop_lag_seconds_bucket{") and 'service="lag-test"' in line
    }
    assert buckets["+Inf"] >= 4  # it keeps probing, every LOOP_LAG_INTERVAL (0.1 s here)
    assert buckets["0.1"] < buckets["+Inf"]  # and one wake-up came over 100 ms late: the blocked one


# --- Strict reading -------------------------------------------------------------------------------


class Flagged(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool
    quantity: int = 1


class FlagFilter(BaseModel):
    active: bool | None = None
    limit: int = 10


async def read_flags(request: web.Request) -> web.Response:
    body = await read_json(request, Flagged)
    query = read_query(request, FlagFilter)
    return json_response({"body": body.active, "query": query.active, "limit": query.limit})


@pytest.fixture
async def flags(serve: Serve) -> Client:
    app = create_app(service="flags-test")
    app.router.add_post("/flags", read_flags)
    return await serve(app)


async def test_a_boolean_field_takes_only_a_json_boolean(flags: Client) -> None:
    ok = await flags.post("/flags", json={"active": False})
    assert ok.status == 200, await ok.text()
    assert (await ok.json())["body"] is False
    for wrong in ("true", "false", 1, 0, None):
        body = await problem_of(await flags.post("/flags", json={"active": wrong}), 422)
        assert body["errors"][0]["field"] == "active", wrong


async def test_a_number_field_does_not_take_a_string(flags: Client) -> None:
    body = await problem_of(await flags.post("/flags", json={"active": True, "quantity": "2"}), 422)
    assert body["errors"][0]["field"] == "quantity"


async def test_a_boolean_query_parameter_is_true_or_false_only(flags: Client) -> None:
    for spelled, meant in (("true", True), ("false", False)):
        ok = await flags.post(f"/flags?active={spelled}&limit=5", json={"active": True})
        assert ok.status == 200, await ok.text()
        assert await ok.json() == {"body": True, "query": meant, "limit": 5}
    for wrong in ("1", "0", "yes", "on", "True", ""):
        body = await problem_of(await flags.post(f"/flags?active={wrong}", json={"active": True}), 422)
        assert [e["field"] for e in body["errors"]] == ["active"], wrong
    both = await problem_of(await flags.post("/flags?active=no&limit=x", json={"active": True}), 422)
    assert sorted(e["field"] for e in both["errors"]) == ["active", "limit"]


# --- Requests the HTTP parser refuses -------------------------------------------------------------


async def test_a_request_the_http_parser_refuses_is_a_400_problem_too() -> None:
    """A bad character in a header never reaches the application (no middleware sees it): the
    runner's connections answer it as a problem."""
    runner = AppRunner(orders_app(), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        for header in (b"X-Note: a\x01b", b"X-Note: a\x00b", b"Bad Header: x"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /orders HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n")
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            head, _, payload = raw.partition(b"\r\n\r\n")
            assert head.split(b"\r\n")[0].endswith(b" 400 Bad Request"), raw
            assert b"Content-Type: application/problem+json" in head, raw
            # What the gateway says on its own answers: never sniffed or framed, no software banner.
            assert b"X-Content-Type-Options: nosniff" in head and b"X-Frame-Options: DENY" in head, raw
            assert b"\r\nServer:" not in head, raw
            body = json.loads(payload)
            assert body["status"] == 400 and body["type"] == "urn:comptoir:problem:bad-request"
            assert "\n" not in body.get("detail", "")
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({}, 0.0),
        ({"Prefer": "wait=3"}, 3.0),
        ({"Prefer": 'respond-async, WAIT="2"'}, 2.0),
        ({"Prefer": "wait=600"}, 5.0),  # at most what the route allows
        ({"Prefer": "wait=soon"}, 0.0),  # unreadable: ignored, not refused
        ({"Prefer": "wait=-1"}, 0.0),
        ({"Prefer": "return=minimal"}, 0.0),
    ],
)
def test_the_wait_a_client_prefers_is_read_from_prefer(headers: dict[str, str], wait: float) -> None:

    assert preferred_wait(make_mocked_request("GET", "/", headers=headers), most=5) == wait
