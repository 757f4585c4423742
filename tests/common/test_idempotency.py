"""Routes declared idempotent act once per Idempotency-Key and answer a retry with their first result."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

import services
from libs.common import idempotency
from libs.common.api import Endpoint, roles
from libs.common.auth import principal
from libs.common.http import json_response, read_json
from libs.common.runtime import POOL
from libs.devstack.testing import Isolated, TokenMinter, service_running
from tests.common.sample.app import SPEC, Item, NewItem

ADMIN = {"account_id": "a1", "tenant_id": "brand-a", "roles": ["admin"]}
VALID_BODIES: dict[type[Any], dict[str, Any]] = {NewItem: {"name": "first"}}
"""A valid body for each body model of the sample's idempotent routes."""

_failures_left = 0


async def _insert(conn: Any, request: web.Request, name: str) -> Item:
    caller = principal(request)
    item = Item(id=uuid.uuid4(), name=name)
    await conn.execute(
        "INSERT INTO items VALUES ($1, $2, $3, $4, $5)",
        item.id,
        caller.tenant_id,
        caller.organisation_id,
        caller.account_id,
        item.name,
    )
    return item


async def create_flaky(request: web.Request) -> web.Response:
    """Acts, then fails before its transaction commits while `_failures_left` says so."""
    global _failures_left
    body = await read_json(request, NewItem)
    conn = await idempotency.once(request, body)
    item = await _insert(conn, request, body.name)
    if _failures_left:
        _failures_left -= 1
        raise RuntimeError("the process fails after the effect, before the commit")
    return json_response(item, status=201)


async def create_careless(request: web.Request) -> web.Response:
    """Declared idempotent but acts outside `idempotency.once`."""
    body = await read_json(request, NewItem)
    async with request.app[POOL].acquire() as conn:
        item = await _insert(conn, request, body.name)
    return json_response(item, status=201)


async def create_undeclared(request: web.Request) -> web.Response:
    """Calls `idempotency.once` on a route that is not declared idempotent."""
    body = await read_json(request, NewItem)
    conn = await idempotency.once(request, body)
    return json_response(await _insert(conn, request, body.name), status=201)


def _route(path: str, handler: Any, *, idempotent: bool = True) -> Endpoint:
    return Endpoint(
        "POST", path, handler, "Create", roles=roles("admin"), body=NewItem, status=201, idempotent=idempotent
    )


EXTRA = [
    _route("/flaky", create_flaky),
    _route("/careless", create_careless),
    _route("/undeclared", create_undeclared, idempotent=False),
]


@pytest.fixture
async def sample(isolated: Isolated, tokens: TokenMinter) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    settings = isolated.service_settings("sample", role="api")
    spec = dataclasses.replace(SPEC, endpoints=[*SPEC.endpoints, *EXTRA])
    async with service_running(spec, settings, tokens) as url, aiohttp.ClientSession() as http:
        yield http, url


async def _post(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], body: dict[str, Any]
) -> tuple[int, Any, dict[str, str]]:
    async with http.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json(), dict(resp.headers)


async def _count(pool: asyncpg.Pool, name: str) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM items WHERE name = $1", name)
    return count


async def test_every_idempotent_route_answers_a_replay_with_its_first_result_and_acts_once(
    sample: tuple[aiohttp.ClientSession, str], tokens: TokenMinter, pool: asyncpg.Pool
) -> None:
    http, url = sample
    routes = [e for e in SPEC.endpoints if e.idempotent]
    assert routes, "the sample declares idempotent routes"
    for n, endpoint in enumerate(routes):
        assert endpoint.body in VALID_BODIES, f"give a valid body for {endpoint.operation_id}"
        body = {**VALID_BODIES[endpoint.body], "name": f"item-{n}"}
        headers = {**tokens.headers(**ADMIN), "Idempotency-Key": f"key-{n}"}
        status, first, first_headers = await _post(http, f"{url}{endpoint.path}", headers, body)
        assert status == endpoint.status
        assert "Idempotent-Replayed" not in first_headers
        again_status, again, again_headers = await _post(http, f"{url}{endpoint.path}", headers, body)
        assert (again_status, again) == (status, first)
        assert again_headers["Idempotent-Replayed"] == "true"
        # The headers that say something about the first result are given again.
        assert again_headers["Location"] == first_headers["Location"] == f"/items/{first['id']}"
        assert await _count(pool, body["name"]) == 1
        other_status, problem, _ = await _post(
            http, f"{url}{endpoint.path}", headers, {**body, "name": "other"}
        )
        assert other_status == 422
        assert problem["type"] == "urn:comptoir:problem:idempotency-key-reused"
        assert await _count(pool, "other") == 0


async def test_an_effect_whose_transaction_fails_is_not_remembered_and_a_retry_acts_once(
    sample: tuple[aiohttp.ClientSession, str], tokens: TokenMinter, pool: asyncpg.Pool
) -> None:
    global _failures_left
    http, url = sample
    headers = {**tokens.headers(**ADMIN), "Idempotency-Key": "flaky-1"}
    _failures_left = 1
    status, _, _ = await _post(http, f"{url}/flaky", headers, {"name": "flaky"})
    assert status == 500
    # Neither the effect nor the key were kept: the retry acts, once.
    assert await _count(pool, "flaky") == 0
    status, first, _ = await _post(http, f"{url}/flaky", headers, {"name": "flaky"})
    assert status == 201
    status, again, replayed = await _post(http, f"{url}/flaky", headers, {"name": "flaky"})
    assert (status, again, replayed["Idempotent-Replayed"]) == (201, first, "true")
    assert await _count(pool, "flaky") == 1


async def test_a_route_must_be_declared_idempotent_and_act_in_the_transaction_of_once(
    sample: tuple[aiohttp.ClientSession, str], tokens: TokenMinter
) -> None:
    http, url = sample
    headers = {**tokens.headers(**ADMIN), "Idempotency-Key": "k"}
    for path in ("/careless", "/undeclared"):
        status, _, _ = await _post(http, f"{url}{path}", headers, {"name": "x"})
        assert status == 500, path


def _endpoint_tables() -> Iterator[tuple[str, Endpoint]]:
    """Every endpoint of every service, wherever its module keeps its slice of the table."""
    for module_info in pkgutil.walk_packages(services.__path__, "services."):
        if ".tests" in module_info.name or module_info.name.endswith(".__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if isinstance(value, list | tuple) and value and all(isinstance(e, Endpoint) for e in value):
                for endpoint in value:
                    yield module_info.name, endpoint


def test_every_service_route_acting_once_is_declared_idempotent_and_the_reverse() -> None:
    """A route declared idempotent whose handler never calls `idempotency.once` fails at its first
    request; one calling it undeclared too. Read every service's table so neither waits for a test
    of that route."""
    seen = 0
    for module, endpoint in _endpoint_tables():
        calls_once = "idempotency.once(" in inspect.getsource(endpoint.handler)
        assert calls_once == endpoint.idempotent, f"{module}: {endpoint.method} {endpoint.path}"
        seen += endpoint.idempotent
    assert seen >= 3, "the services' tables were found"


def test_every_service_with_idempotent_routes_replays_each_of_them() -> None:
    """Each service's `tests/test_idempotent_routes.py` replays every one of its idempotent routes
    (and fails on a route it has no recipe for): a service that gains its first one needs the module."""
    services_folder = Path(services.__file__).parent
    with_routes = {module.split(".")[1] for module, endpoint in _endpoint_tables() if endpoint.idempotent}
    assert with_routes, "the services' tables were found"
    missing = {
        name
        for name in with_routes
        if not (services_folder / name / "tests" / "test_idempotent_routes.py").exists()
    }
    assert missing == set()
