"""Declared endpoints: one table per service gives its routes, their access rule and its OpenAPI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from libs.common.auth import PRINCIPAL, TokenVerifier
from libs.common.http import Problem

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PUBLIC: frozenset[str] | None = None
"""No token needed."""
AUTHENTICATED: frozenset[str] = frozenset()
"""Any valid token of any role."""

VERIFIER = web.AppKey("verifier", TokenVerifier)


@dataclass(frozen=True)
class Endpoint:
    """One route: what it does, who may call it, what it reads and answers (for OpenAPI)."""

    method: str
    path: str
    handler: Handler
    summary: str
    roles: frozenset[str] | None = AUTHENTICATED
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    query: type[BaseModel] | None = None  # query parameters, read with `http.read_query`
    status: int = 200
    idempotent: bool = False  # accepts an Idempotency-Key header; a replay answers the first result

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


def roles(*names: str) -> frozenset[str]:
    """The roles allowed to call an endpoint (any one of them suffices)."""
    return frozenset(names)


def add_endpoints(app: web.Application, endpoints: Sequence[Endpoint]) -> None:
    """Route each endpoint behind its access rule: no route can forget to check the token."""
    for endpoint in endpoints:
        app.router.add_route(endpoint.method, endpoint.path, _guarded(endpoint))


def _guarded(endpoint: Endpoint) -> Handler:
    if endpoint.roles is None:
        return endpoint.handler

    async def guarded(request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise Problem(
                401,
                "Authentication required",
                type="unauthenticated",
                detail="send an access token as 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = await request.app[VERIFIER].verify(header.removeprefix("Bearer ").strip())
        if endpoint.roles and not principal.roles & endpoint.roles:
            raise Problem(
                403,
                "Forbidden",
                type="forbidden",
                detail=f"this needs one of the roles: {', '.join(sorted(endpoint.roles))}",
            )
        request[PRINCIPAL] = principal
        return await endpoint.handler(request)

    guarded.__name__ = endpoint.handler.__name__
    return guarded


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "title", "status"],
}


def openapi_document(service: str, endpoints: Sequence[Endpoint], version: str = "1") -> dict[str, Any]:
    """An OpenAPI 3.1 document generated from the endpoint table and its pydantic models."""
    models = {m for e in endpoints for m in (e.body, e.response) if m is not None}
    _, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = {**defs.get("$defs", {}), "Problem": _PROBLEM_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": f"Comptoir {service}", "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    ok: dict[str, Any] = {"description": "OK"}
    if endpoint.response is not None:
        ok["content"] = {"application/json": {"schema": _ref(endpoint.response)}}
    responses: dict[str, Any] = {str(endpoint.status): ok}
    codes = {"400": "Malformed request", "404": "Not found"}
    if endpoint.body is not None:
        codes["422"] = "Invalid fields"
    if endpoint.roles is not None:
        codes |= {"401": "Missing or invalid token", "403": "Not allowed"}
    responses |= {code: {"description": text, "content": problem} for code, text in sorted(codes.items())}
    parameters = [
        {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
        for part in endpoint.path.split("/")
        if part.startswith("{") and part.endswith("}")
    ]
    if endpoint.query is not None:
        schema = endpoint.query.model_json_schema()
        required = set(schema.get("required", []))
        parameters += [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            | ({"description": prop["description"]} if "description" in prop else {})
            for name, prop in schema.get("properties", {}).items()
        ]
    if endpoint.idempotent:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 200},
                "description": "Retrying with the same key returns the first result instead of acting twice",
            }
        )
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(endpoint.body)}},
        }
    if endpoint.roles is not None:
        operation["security"] = [{"bearer": []}]
        if endpoint.roles:
            operation["x-roles"] = sorted(endpoint.roles)
    return operation
