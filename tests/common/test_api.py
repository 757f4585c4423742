"""Declared endpoints on a running service: tokens, roles, tenant scoping, idempotency, OpenAPI."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jsonschema_rs
import pytest
from aiohttp import web
from pydantic import BaseModel, ConfigDict
from yarl import URL

from libs.common.api import PUBLIC, Endpoint, add_endpoints, exactly_one_of, openapi_document
from libs.common.idempotency import MAX_KEY_LENGTH
from libs.devstack.testing import Isolated, TokenMinter, service_running
from tests.common.sample.app import SPEC


@pytest.fixture
async def sample(isolated: Isolated, tokens: TokenMinter) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    settings = isolated.service_settings("sample", role="api")
    async with service_running(SPEC, settings, tokens) as url, aiohttp.ClientSession() as http:
        yield http, url


ADMIN_A = {"account_id": "a1", "tenant_id": "brand-a", "roles": ["admin"]}


async def test_public_endpoint_needs_no_token(sample: tuple[aiohttp.ClientSession, str]) -> None:
    http, url = sample
    async with http.get(f"{url}/ping") as resp:
        assert resp.status == 200


async def test_missing_forged_or_expired_tokens_are_401_problems(
    sample: tuple[aiohttp.ClientSession, str], tokens: TokenMinter
) -> None:
    http, url = sample
    forged = TokenMinter().headers(**ADMIN_A)  # signed by a key the service does not trust
    expired = tokens.headers(**ADMIN_A, ttl=-60)
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, forged, expired):
        async with http.post(f"{url}/items", json={"name": "x"}, headers=headers) as resp:
            assert resp.status == 401
            assert resp.content_type == "application/problem+json"


async def test_a_role_without_the_right_is_403(
    sample: tuple[aiohttp.ClientSession, str], tokens: TokenMinter
) -> None:
    http, url = sample
    partner = tokens.headers(account_id="p1", tenant_id="brand-a", roles=["partner"])
    async with http.post(f"{url}/items", json={"name": "x"}, headers=partner) as resp:
        assert resp.status == 403
        assert "admin" in (await resp.json())["detail"]


async def test_another_tenant_cannot_read_an_item_by_its_real_id(
    sample: tuple[aiohttp.ClientSession, str], tokens: TokenMinter
) -> None:
    http, url = sample
    async with http.post(f"{url}/items", json={"name": "x"}, headers=tokens.headers(**ADMIN_A)) as resp:
        item = await resp.json()
    other = tokens.headers(account_id="b1", tenant_id="brand-b", roles=["admin"])
    async with http.get(f"{url}/items/{item['id']}", headers=other) as resp:
        assert resp.status == 404
    async with http.get(f"{url}/items/{item['id']}", headers=tokens.headers(**ADMIN_A)) as resp:
        assert resp.status == 200


async def test_each_role_reaches_as_far_as_its_grant_says(
    sample: tuple[aiohttp.ClientSession, str], tokens: TokenMinter
) -> None:
    http, url = sample
    people = {
        "admin": tokens.headers(account_id="a1", tenant_id="brand-a", roles=["admin"]),
        "claire": tokens.headers(
            account_id="c1", tenant_id="brand-a", roles=["partner"], organisation_id="o1"
        ),
        "chloe": tokens.headers(
            account_id="c2", tenant_id="brand-a", roles=["partner"], organisation_id="o1"
        ),
        "val": tokens.headers(
            account_id="v1", tenant_id="brand-a", roles=["validator"], organisation_id="o1"
        ),
        "other-val": tokens.headers(
            account_id="v2", tenant_id="brand-a", roles=["validator"], organisation_id="o2"
        ),
        "shop": tokens.headers(account_id="s1", tenant_id="brand-a", roles=["shop"]),
        "b-admin": tokens.headers(account_id="b1", tenant_id="brand-b", roles=["admin"]),
    }
    async with http.post(f"{url}/items/mine", json={"name": "claire's"}, headers=people["claire"]) as resp:
        assert resp.status == 201
        item_id = (await resp.json())["id"]

    seen = {}
    for who, headers in people.items():
        async with http.get(f"{url}/items/{item_id}", headers=headers) as resp:
            seen[who] = resp.status
    assert seen == {
        "admin": 200,  # tenant reach
        "claire": 200,  # her own
        "chloe": 404,  # same organisation, but a partner reaches only her own
        "val": 200,  # her organisation's
        "other-val": 404,  # another organisation's
        "shop": 403,  # not granted at all
        "b-admin": 404,  # another tenant's: as absent as a missing item
    }

    listed = {}
    for who in ("admin", "claire", "chloe", "val", "other-val", "b-admin"):
        async with http.get(f"{url}/items", headers=people[who]) as resp:
            listed[who] = [item["id"] for item in await resp.json()]
    assert listed == {
        "admin": [item_id],
        "claire": [item_id],
        "chloe": [],
        "val": [item_id],
        "other-val": [],
        "b-admin": [],
    }
    async with http.get(f"{url}/items/not-a-uuid", headers=people["admin"]) as resp:
        assert resp.status == 404


def test_a_route_naming_a_resource_without_an_owner_lookup_is_refused_at_startup() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app = web.Application()
    with pytest.raises(ValueError, match="owner lookup"):
        add_endpoints(app, [Endpoint("GET", "/things/{thing_id}", handler, "Read a thing")])
    # A public route may name a token or a code: nobody's resource, nothing to check.
    add_endpoints(app, [Endpoint("GET", "/links/{token}", handler, "Follow a link", roles=PUBLIC)])


async def test_same_idempotency_key_answers_the_first_result_and_creates_once(
    sample: tuple[aiohttp.ClientSession, str], tokens: TokenMinter, isolated: Isolated
) -> None:
    http, url = sample
    headers = {**tokens.headers(**ADMIN_A), "Idempotency-Key": "k-1"}
    async with http.post(f"{url}/items", json={"name": "x"}, headers=headers) as first:
        assert first.status == 201
        created = await first.json()
    async with http.post(f"{url}/items", json={"name": "x"}, headers=headers) as again:
        assert again.status == 201
        assert await again.json() == created
        assert again.headers["Idempotent-Replayed"] == "true"
    async with http.post(f"{url}/items", json={"name": "other"}, headers=headers) as reused:
        assert reused.status == 422
    async with http.post(f"{url}/items", json={"name": "x"}, headers=tokens.headers(**ADMIN_A)) as no_key:
        assert no_key.status == 201


async def test_openapi_document_is_generated_from_the_endpoint_table(
    sample: tuple[aiohttp.ClientSession, str],
) -> None:
    http, url = sample
    async with http.get(f"{url}/openapi.json") as resp:
        doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    create = doc["paths"]["/items"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewItem"
    }
    assert create["x-roles"] == {"admin": "tenant"}
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    assert (
        doc["components"]["schemas"]["NewItem"]["properties"]["name"]["description"]
        == "What the item is called"
    )
    assert "security" not in doc["paths"]["/ping"]["get"]


def test_query_models_become_openapi_query_parameters() -> None:
    from pydantic import BaseModel, ConfigDict, Field

    from libs.common.api import Endpoint, openapi_document

    class Filter(BaseModel):
        model_config = ConfigDict(extra="forbid")
        limit: int = Field(100, ge=1, le=500, description="At most this many")
        account_id: str | None = None

    async def listing(request: object) -> object:  # pragma: no cover - only documented here
        raise NotImplementedError

    doc = openapi_document("x", [Endpoint("GET", "/things", listing, "List", query=Filter)])  # type: ignore[arg-type]
    params = {p["name"]: p for p in doc["paths"]["/things"]["get"]["parameters"]}
    assert params["limit"]["in"] == "query" and params["limit"]["description"] == "At most this many"
    assert params["account_id"]["required"] is False


def test_raw_file_bodies_are_described_as_binary_uploads() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    upload = Endpoint("POST", "/files", handler, "Upload a file", upload=("application/pdf", "image/png"))
    operation = openapi_document("sample", [upload])["paths"]["/files"]["post"]
    assert operation["requestBody"]["content"] == {
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        "image/png": {"schema": {"type": "string", "format": "binary"}},
    }


async def test_a_wrong_method_is_405_listing_the_methods_of_that_path_only(
    sample: tuple[aiohttp.ClientSession, str], tokens: TokenMinter
) -> None:
    """`/items/mine` (POST) also matches `/items/{item_id}` (GET): a GET or PUT there must not reach
    the neighbour's route nor list its methods."""
    http, url = sample
    for method in ("GET", "PUT", "DELETE"):
        async with http.request(method, f"{url}/items/mine", headers=tokens.headers(**ADMIN_A)) as resp:
            assert resp.status == 405, method
            assert resp.headers["Allow"] == "POST"
            assert resp.content_type == "application/problem+json"
    async with http.put(f"{url}/items/{uuid.uuid4()}", headers=tokens.headers(**ADMIN_A)) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET"


async def _nothing(request: web.Request) -> web.Response:  # pragma: no cover - only documented here
    raise NotImplementedError


class _Thing(BaseModel):
    name: str
    login: str | None = None
    email: str | None = None


def _responses(endpoint: Endpoint) -> dict[str, Any]:
    path = openapi_document("x", [endpoint])["paths"][endpoint.path]
    return dict(path[endpoint.method.lower()]["responses"])


def test_every_operation_documents_the_problems_its_kind_answers() -> None:
    public_read = _responses(Endpoint("GET", "/ping", _nothing, "Ping", roles=PUBLIC))
    assert set(public_read) == {"200", "400", "429"}
    assert public_read["429"]["headers"]["Retry-After"]["required"] is True

    guarded_write = _responses(
        Endpoint("POST", "/things", _nothing, "Create", body=_Thing, status=201, idempotent=True)
    )
    assert set(guarded_write) == {"201", "400", "401", "403", "413", "415", "422", "429"}
    for code, answer in guarded_write.items():
        if code != "201":
            assert answer["content"]["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }

    named = Endpoint("DELETE", "/things/{thing_id}", _nothing, "Delete", owner=_no_owner, status=204)
    assert set(_responses(named)) == {"204", "400", "401", "403", "404", "422", "429"}

    upload = Endpoint("POST", "/files", _nothing, "Upload", upload=("application/pdf",), status=201)
    assert {"413", "415", "422"} <= set(_responses(upload))


def test_an_endpoint_declares_the_problems_of_its_own() -> None:
    conflicting = Endpoint(
        "POST", "/things", _nothing, "Create", body=_Thing, problems={409: "The name is taken", 423: "Locked"}
    )
    responses = _responses(conflicting)
    assert responses["409"]["description"] == "The name is taken"
    assert {"409", "423", "422", "415"} <= set(responses)


def test_the_idempotency_key_header_is_documented_with_its_limits() -> None:
    doc = openapi_document(
        "x", [Endpoint("POST", "/things", _nothing, "Create", body=_Thing, idempotent=True)]
    )
    (key,) = [p for p in doc["paths"]["/things"]["post"]["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["in"] == "header"
    assert key["schema"] == {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH}


def test_a_rule_between_fields_is_in_the_body_schema() -> None:
    class Credentials(BaseModel):
        model_config = ConfigDict(json_schema_extra=exactly_one_of("login", "email"))
        login: str | None = None
        email: str | None = None

    doc = openapi_document("x", [Endpoint("POST", "/s", _nothing, "Sign in", roles=PUBLIC, body=Credentials)])
    schema = doc["components"]["schemas"]["Credentials"]
    for body, valid in (
        ({"login": "a"}, True),
        ({"email": "a@b.c", "login": None}, True),
        ({"login": "a", "email": "a@b.c"}, False),
        ({}, False),
        ({"login": None}, False),
    ):
        assert jsonschema_rs.validator_for(schema).is_valid(body) is valid, body


def test_a_query_parameter_that_may_be_absent_is_not_documented_as_null() -> None:
    class Filter(BaseModel):
        active: bool | None = None

    doc = openapi_document("x", [Endpoint("GET", "/things", _nothing, "List", query=Filter)])
    (active,) = doc["paths"]["/things"]["get"]["parameters"]
    assert active["schema"] == {"type": "boolean"}


async def _no_owner(request: web.Request, caller: Any) -> None:  # pragma: no cover
    return None


@pytest.mark.parametrize(
    ("method", "path", "body", "key", "field", "kind"),
    [
        ("POST", "/items", {"name": "a\x00b"}, None, "name", "control_character"),
        ("POST", "/items", {"name": "bell\x07"}, None, "name", "control_character"),
        ("POST", "/items", {"name": "c1\x85"}, None, "name", "control_character"),
        ("POST", "/items", {"name": "two\nlines"}, None, "name", "line_break"),
        ("POST", "/items", {"name": "x", "note": "a\x00b"}, None, "note", "control_character"),
        ("GET", "/names/a%00b", None, None, "name", "control_character"),
        ("GET", "/names/a%0Ab", None, None, "name", "line_break"),
        ("POST", "/items", {"name": "x"}, "k\x85", "Idempotency-Key", "control_character"),
    ],
)
async def test_a_control_character_in_a_body_path_or_header_is_a_422_naming_it_and_changes_nothing(
    sample: tuple[aiohttp.ClientSession, str],
    tokens: TokenMinter,
    isolated: Isolated,
    method: str,
    path: str,
    body: dict[str, str] | None,
    key: str | None,
    field: str,
    kind: str,
) -> None:
    http, url = sample
    headers = tokens.headers(**ADMIN_A) | ({"Idempotency-Key": key} if key is not None else {})
    async with http.request(method, URL(url + path, encoded=True), json=body, headers=headers) as resp:
        assert resp.status == 422, await resp.text()
        problem = await resp.json(content_type="application/problem+json")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [(field, kind)]
    async with http.get(f"{url}/items", headers=tokens.headers(**ADMIN_A)) as listed:
        assert await listed.json() == []


async def test_a_multi_line_field_keeps_its_tabs_and_line_breaks(
    sample: tuple[aiohttp.ClientSession, str], tokens: TokenMinter
) -> None:
    http, url = sample
    body = {"name": "tab\tseparated", "note": "first line\r\n\tsecond line\n"}
    async with http.post(f"{url}/items", json=body, headers=tokens.headers(**ADMIN_A)) as resp:
        assert resp.status == 201, await resp.text()


async def test_a_header_byte_that_is_not_utf8_is_a_422_naming_the_header(
    sample: tuple[aiohttp.ClientSession, str], tokens: TokenMinter
) -> None:
    """aiohttp hands such a byte to the handler as a lone surrogate, which no database can store
    (the client library would drop it: the request is written by hand)."""
    http, url = sample
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    body = json.dumps({"name": "x"}).encode()
    writer.write(
        b"POST /items HTTP/1.1\r\nHost: sample\r\nConnection: close\r\n"
        + f"Authorization: {tokens.headers(**ADMIN_A)['Authorization']}\r\n".encode()
        + b"Idempotency-Key: k\xff\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    answer = await reader.read()
    writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 422 Unprocessable Entity", answer
    assert [e["field"] for e in json.loads(payload)["errors"]] == ["Idempotency-Key"]
    async with http.get(f"{url}/items", headers=tokens.headers(**ADMIN_A)) as listed:
        assert await listed.json() == []
