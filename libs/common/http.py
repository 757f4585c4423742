"""aiohttp application factory: correlation ids, metrics, RFC 9457 problems, probes and JSON I/O."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import re
import time
import typing
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, TypeVar

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, Histogram, generate_latest
from pydantic import BaseModel, ValidationError

from libs.common import errors
from libs.common.logging import bind_correlation
from libs.common.text import text_error, text_errors

M = TypeVar("M", bound=BaseModel)
ReadinessCheck = Callable[[], Awaitable[None]]
"""Returns when the dependency is usable, raises when it is not."""

SERVICE = web.AppKey("service", str)
READINESS_CHECKS = web.AppKey("readiness_checks", tuple[tuple[str, ReadinessCheck], ...])
READINESS_TIMEOUT = web.AppKey("readiness_timeout", float)
REQUEST_ID = web.RequestKey("request_id", str)
CORRELATION_ID = web.RequestKey("correlation_id", str)
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...])
LOOPBACK = ("127.0.0.0/8", "::1/128")

REQUEST_DURATION = Histogram(
    "comptoir_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["service", "method", "route", "status"],
)

LOOP_LAG = Histogram(
    "comptoir_event_loop_lag_seconds",
    "How late the event loop ran a timer: time the loop was blocked (e.g. by CPU work in a handler)",
    ["service"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
LOOP_LAG_INTERVAL = 1.0  # a stall longer than this is always seen; shorter ones, sampled (a wake-up each)

_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# Statuses whose reason phrase would make a vague or version-dependent slug.
_SLUGS = {413: "payload-too-large", 422: "validation-error", 500: "internal-error"}


class Problem(Exception):
    """An RFC 9457 problem: raise it from a handler, the middleware renders it."""

    def __init__(
        self,
        status: int,
        title: str,
        *,
        type: str | None = None,
        detail: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        """`type` is a stable slug (e.g. "order-already-paid"); by default it is derived from the status."""
        super().__init__(title)
        self.status = status
        self.title = title
        self.type = f"urn:comptoir:problem:{type or _slug_for(status)}"
        self.detail = detail
        self.errors = errors
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})


_STATUSES: dict[type[errors.DomainError], int] = {
    errors.Rejected: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Gone: 410,
    errors.TooLarge: 413,
    errors.Invalid: 422,
    errors.Locked: 423,
}


def problem_of(error: errors.DomainError) -> Problem:
    """The problem a use case's refusal is answered with: the one place that gives each its status."""
    status = next((code for kind, code in _STATUSES.items() if isinstance(error, kind)), None)
    if status is None:
        raise TypeError(f"{type(error).__name__} is no kind of refusal the HTTP layer knows")
    headers = {}
    if isinstance(error, errors.Locked) and error.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(error.retry_after.total_seconds())))
    return Problem(
        status,
        error.title,
        type=error.kind,
        detail=error.detail,
        errors=[e.as_dict() for e in error.errors] if isinstance(error, errors.Invalid) else None,
        headers=headers,
        extensions=error.extensions,
    )


def problem_response(request: web.Request, error: errors.DomainError) -> web.Response:
    """The refusal as a response rather than a raise, for a handler whose transaction must still
    commit what it did (a new quote offered in the 409 that refuses the old one)."""
    return _render(request, problem_of(error))


def _slug_for(status: int) -> str:
    if status in _SLUGS:
        return _SLUGS[status]
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
    except ValueError:
        return f"http-{status}"


def create_app(
    *,
    service: str,
    max_body_bytes: int = 1_048_576,
    readiness: Sequence[tuple[str, ReadinessCheck]] = (),
    readiness_timeout: float = 2.0,
    middlewares: Sequence[Middleware] = (),
    trusted_proxies: Sequence[str] = LOOPBACK,
    operator_routes: bool = True,
) -> web.Application:
    """An application with correlation ids, metrics, problem rendering, /healthz, /readyz and /metrics.

    A service's port is internal, so its /readyz says why a check failed and it serves /metrics.
    An app facing the public (the gateway) passes `operator_routes=False`: its /readyz says only
    which checks pass, and `operator_app` serves the details and /metrics on another port.
    """
    app = web.Application(
        client_max_size=max_body_bytes,
        middlewares=[_correlation_middleware, _metrics_middleware, _problem_middleware, *middlewares],
    )
    app[SERVICE] = service
    app[READINESS_CHECKS] = tuple(readiness)
    app[READINESS_TIMEOUT] = readiness_timeout
    app[TRUSTED_PROXIES] = tuple(ipaddress.ip_network(net) for net in trusted_proxies)
    app.router.add_get("/healthz", _healthz)
    if operator_routes:
        app.router.add_get("/readyz", _readyz)
        app.router.add_get("/metrics", _metrics)
    else:
        app.router.add_get("/readyz", _public_readyz)
    app.cleanup_ctx.append(_loop_lag_probe)
    return app


def operator_app(
    *, service: str, readiness: Sequence[tuple[str, ReadinessCheck]] = (), readiness_timeout: float = 2.0
) -> web.Application:
    """/healthz, the detailed /readyz and /metrics of a process whose main app faces the public,
    to serve on a port only operators and Prometheus reach."""
    app = web.Application(middlewares=[_problem_middleware])
    app[SERVICE] = service
    app[READINESS_CHECKS] = tuple(readiness)
    app[READINESS_TIMEOUT] = readiness_timeout
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    return app


def client_address(request: web.Request) -> str:
    """The address of the client behind the request: the last `X-Forwarded-For` entry when the
    TCP peer is a trusted proxy (the gateway, the portal), else the TCP peer itself.

    The gateway replaces whatever `X-Forwarded-For` a client sent with the address it saw, so a
    client cannot choose the address that services limit and lock by.
    """
    peer = request.remote or ""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if not forwarded or not from_trusted_proxy(request):
        return peer
    last = forwarded.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return peer


def from_trusted_proxy(request: web.Request) -> bool:
    """Whether the TCP peer is one of the app's trusted proxies, whose X-Forwarded-* it believes."""
    try:
        address = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return False
    return any(address in net for net in request.app.get(TRUSTED_PROXIES, ()))


async def _loop_lag_probe(app: web.Application) -> AsyncIterator[None]:
    """Measure, every `LOOP_LAG_INTERVAL`, how much later than asked the loop woke a sleeper."""
    observe = LOOP_LAG.labels(app[SERVICE]).observe

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + LOOP_LAG_INTERVAL
            await asyncio.sleep(LOOP_LAG_INTERVAL)
            observe(max(0.0, loop.time() - asked))

    task = asyncio.create_task(probe(), name="loop-lag-probe")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def read_json(request: web.Request, model: type[M]) -> M:
    """The request body as `model`, or a 415, 400 or 422 problem saying what is wrong with it."""
    content_type = request.content_type
    if content_type != "application/json" and not (
        content_type.startswith("application/") and content_type.endswith("+json")
    ):
        raise Problem(415, "Unsupported Media Type", detail="Send the body as application/json.")
    body = await request.read()
    try:
        # Strict: a boolean is true or false, a number is not a string. JSON mode, not a dict first:
        # strict models accept ISO dates and UUIDs as JSON strings.
        command = model.model_validate_json(body, strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(error["type"] == "json_invalid" for error in errors):
            raise Problem(400, "Malformed JSON", type="malformed-json", detail=errors[0]["msg"]) from None
        # Only loc, msg and type go out: the input may be a secret such as a password.
        fields = [
            {"field": ".".join(str(part) for part in e["loc"]), "message": e["msg"], "type": e["type"]}
            for e in errors
        ]
        raise Problem(422, "Invalid request body", errors=fields) from None
    return _readable(command, "Invalid request body")


def _readable(model: M, title: str) -> M:
    """The model when all its text is readable (`libs.common.text`), else a 422 naming the fields."""
    errors = text_errors(model)
    if errors:
        raise Problem(422, title, errors=errors)
    return model


def read_query(request: web.Request, model: type[M]) -> M:
    """The query string as `model`, or a 422 problem naming the bad parameters.

    A boolean parameter is `true` or `false`, as the OpenAPI document spells it: not `1`, `yes` or `on`.
    """
    query = dict(request.query)
    fields = [
        {"field": name, "message": "Input should be true or false", "type": "bool_parsing"}
        for name in _boolean_fields(model)
        if name in query and query[name] not in ("true", "false")
    ]
    try:
        parsed = model.model_validate(query)
    except ValidationError as exc:
        fields += [
            {"field": ".".join(str(part) for part in e["loc"]), "message": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
            if not any(e["loc"] == (f["field"],) for f in fields)
        ]
    if fields:
        raise Problem(422, "Invalid query parameters", errors=fields)
    return _readable(parsed, "Invalid query parameters")


def _boolean_fields(model: type[BaseModel]) -> list[str]:
    return [
        field.alias or name
        for name, field in model.model_fields.items()
        if field.annotation is bool or set(typing.get_args(field.annotation)) == {bool, type(None)}
    ]


def read_path_parameters(request: web.Request) -> Mapping[str, str]:
    """The route's path parameters, or a 422 problem naming those holding a control character or a
    line break (a path parameter is one line)."""
    errors = [
        {"field": name, "message": error[1], "type": error[0]}
        for name, value in request.match_info.items()
        if (error := text_error(value)) is not None
    ]
    if errors:
        raise Problem(422, "Invalid path parameters", errors=errors)
    return request.match_info


def read_header(request: web.Request, name: str) -> str | None:
    """A request header a service acts on (its value may reach the database), or None when absent;
    a 422 problem naming it when it holds a control character."""
    value = request.headers.get(name)
    if value is not None and (error := text_error(value)) is not None:
        raise Problem(422, "Invalid header", errors=[{"field": name, "message": error[1], "type": error[0]}])
    return value


def preferred_wait(request: web.Request, most: float) -> float:
    """The seconds the client would wait for the answer (RFC 7240 `Prefer: wait=N`), at most `most`;
    0 when it says nothing. A preference is a hint: one it cannot read is ignored, never refused."""
    for header in request.headers.getall("Prefer", []):
        for preference in header.split(","):
            name, _, value = preference.split(";")[0].partition("=")
            if name.strip().lower() == "wait" and value.strip().strip('"').isdigit():
                return min(float(value.strip().strip('"')), most)
    return 0.0


def json_response(
    body: BaseModel | Sequence[BaseModel] | Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A JSON response from a model, a list of models or a plain mapping."""
    data: Any
    if isinstance(body, BaseModel):
        data = body.model_dump(mode="json")
    elif isinstance(body, Mapping):
        data = dict(body)
    else:
        data = [item.model_dump(mode="json") for item in body]
    return web.json_response(data, status=status, headers=headers)


def _incoming_id(request: web.Request, header: str) -> str | None:
    value = request.headers.get(header)
    return value if value is not None and _SANE_ID.fullmatch(value) else None


@web.middleware
async def _correlation_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = _incoming_id(request, "X-Request-Id") or uuid.uuid4().hex
    correlation_id = _incoming_id(request, "X-Correlation-Id") or request_id
    # A keep-alive connection serves its requests in one task: drop the previous request's context.
    structlog.contextvars.clear_contextvars()
    bind_correlation(correlation_id)
    structlog.contextvars.bind_contextvars(request_id=request_id)
    request[REQUEST_ID] = request_id
    request[CORRELATION_ID] = correlation_id
    echoed = {"X-Request-Id": request_id, "X-Correlation-Id": correlation_id}
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(echoed)
        raise
    response.headers.update(echoed)
    return response


@web.middleware
async def _metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    # Problems are rendered further in, so only a cancelled request (client gone) leaves without a status.
    status = 499
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        REQUEST_DURATION.labels(
            service=request.config_dict[SERVICE],
            method=request.method if request.method in hdrs.METH_ALL else "OTHER",
            route=resource.canonical if resource is not None else "unmatched",
            status=str(status),
        ).observe(time.perf_counter() - started)


@web.middleware
async def _problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as problem:
        return _render(request, problem)
    except errors.DomainError as error:
        return _render(request, problem_of(error))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _render(request, _problem_from_http(exc))
    except Exception:
        structlog.get_logger(__name__).exception("unhandled error", method=request.method, path=request.path)
        return _render(request, Problem(500, "Internal Server Error"))


def _problem_from_http(exc: web.HTTPException) -> Problem:
    # aiohttp's default text only repeats the status; a handler's own text is worth passing on.
    detail = exc.text if exc.text and exc.text != f"{exc.status}: {exc.reason}" else None
    # Keep headers such as Allow (405) or Retry-After, but not those describing aiohttp's text body.
    kept = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
    return Problem(exc.status, exc.reason, detail=detail, headers=kept)


def _render(request: web.Request, problem: Problem) -> web.Response:
    # Extension members first: the standard ones are never overridden by them.
    body: dict[str, Any] = {**problem.extensions}
    body |= {"type": problem.type, "title": problem.title, "status": problem.status}
    if problem.detail is not None:
        body["detail"] = problem.detail
    if problem.errors is not None:
        body["errors"] = problem.errors
    body["instance"] = request.path
    return web.json_response(
        body, status=problem.status, headers=problem.headers, content_type="application/problem+json"
    )


class _ProblemRequestHandler(web.RequestHandler):
    """Answers a request aiohttp could not parse (a bad character in a header, a malformed request
    line) with a problem, as any other refusal; aiohttp's own answer is plain text. These never
    reach the application, so no middleware sees them."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; refuses once a response started
        body: dict[str, Any] = {
            "type": f"urn:comptoir:problem:{_slug_for(status)}",
            "title": HTTPStatus(status).phrase,
            "status": status,
        }
        if status < 500 and message:
            # The parser's first line says what is wrong; the rest echoes the request's bytes.
            body["detail"] = message.strip().splitlines()[0][:200]
        response = _UnparsableAnswer(
            text=json.dumps(body),
            status=status,
            content_type="application/problem+json",
            headers=_NEVER_FRAMED,
        )
        response.force_close()
        return response


# Answers to what no application saw carry what the gateway puts on every answer of its own.
_NEVER_FRAMED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


class _UnparsableAnswer(web.Response):
    """Says nothing of the server's software: aiohttp adds its name and version, and no application's
    response hook runs for a request it could not parse."""

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        self.headers.popall(hdrs.SERVER, None)


class _ProblemServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        return _ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class AppRunner(web.AppRunner):
    """aiohttp's runner whose connections answer unparsable requests with a problem too: run every
    application of `create_app` with it."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp builds the server with no hook for its connection class: swap in the subclass.
        server.__class__ = _ProblemServer
        return server


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": request.app[SERVICE]})


async def _readyz(request: web.Request) -> web.Response:
    checks = request.app[READINESS_CHECKS]
    limit = request.app[READINESS_TIMEOUT]
    outcomes = await asyncio.gather(*(_run_check(name, check, limit) for name, check in checks))
    ready = all(outcome == "ok" for outcome in outcomes)
    report = {name: outcome for (name, _), outcome in zip(checks, outcomes, strict=True)}
    return web.json_response(
        {"status": "ready" if ready else "unavailable", "checks": report}, status=200 if ready else 503
    )


async def _public_readyz(request: web.Request) -> web.Response:
    """Which checks pass, without why the others fail: the reasons name internal addresses."""
    checks = request.app[READINESS_CHECKS]
    limit = request.app[READINESS_TIMEOUT]
    outcomes = await asyncio.gather(*(_run_check(name, check, limit) for name, check in checks))
    ready = all(outcome == "ok" for outcome in outcomes)
    report = {
        name: "ok" if outcome == "ok" else "unavailable"
        for (name, _), outcome in zip(checks, outcomes, strict=True)
    }
    return web.json_response(
        {"status": "ready" if ready else "unavailable", "checks": report}, status=200 if ready else 503
    )


_LAST_OUTCOMES: weakref.WeakKeyDictionary[ReadinessCheck, str] = weakref.WeakKeyDictionary()
"""Each check's last outcome: a probe polled every 100 ms logs a change, not every answer."""


async def _run_check(name: str, check: ReadinessCheck, limit: float) -> str:
    deadline = asyncio.timeout(limit)
    try:
        async with deadline:
            await check()
    except Exception as exc:
        outcome = f"timed out after {limit:g}s" if deadline.expired() else f"{type(exc).__name__}: {exc}"
    else:
        outcome = "ok"
    last = _LAST_OUTCOMES.get(check)
    _LAST_OUTCOMES[check] = outcome
    if outcome != last and outcome != "ok":
        structlog.get_logger(__name__).warning("not ready", check=name, outcome=outcome)
    elif outcome != last and last is not None:
        structlog.get_logger(__name__).info("ready again", check=name)
    return outcome


async def _metrics(request: web.Request) -> web.Response:
    # The classic text format, which every Prometheus scrapes; aiohttp refuses a charset in content_type.
    return web.Response(body=generate_latest(), headers={hdrs.CONTENT_TYPE: CONTENT_TYPE_PLAIN_0_0_4})
