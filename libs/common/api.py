"""Declared endpoints: one table per service gives its routes, their access rule and its OpenAPI."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import hdrs, web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from libs.common.auth import PRINCIPAL, Principal, Revocations, TokenVerifier, principal
from libs.common.http import Problem, read_path_parameters
from libs.common.idempotency import MAX_KEY_LENGTH, idempotent

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Reach(enum.IntEnum):
    """How far a role reaches over a route's resources (a larger value reaches further)."""

    SELF = 1  # what belongs to the caller's own account
    ORGANISATION = 2  # what belongs to the caller's organisation (or to the caller)
    TENANT = 3  # anything of the caller's tenant


SELF, ORGANISATION, TENANT = Reach.SELF, Reach.ORGANISATION, Reach.TENANT
R = TypeVar("R")

ANY_ROLE = "*"


@dataclass(frozen=True)
class Grant:
    """Who may call a route: each allowed role, and how far it reaches (`ANY_ROLE` for every role)."""

    reach: Mapping[str, Reach]

    def reach_of(self, caller: Principal) -> Reach | None:
        """The furthest reach any of the caller's roles has here; None when no role is allowed."""
        return self.reach_of_roles(caller.roles)

    def reach_of_roles(self, roles: Iterable[str]) -> Reach | None:
        held = set(roles)
        reaches = [r for role, r in self.reach.items() if role == ANY_ROLE or role in held]
        return max(reaches, default=None)

    @property
    def roles(self) -> list[str]:
        return sorted(self.reach)


PUBLIC: Grant | None = None
"""No token needed."""
AUTHENTICATED = Grant({ANY_ROLE: TENANT})
"""Any valid token of any role, reaching the caller's whole tenant (e.g. reading the catalog)."""


def roles(*names: str) -> Grant:
    """These roles (any one suffices), reaching the caller's whole tenant."""
    return Grant(dict.fromkeys(names, TENANT))


def grant(**reach: Reach) -> Grant:
    """Roles with their reach, e.g. `grant(admin=TENANT, validator=ORGANISATION, partner=SELF)`."""
    return Grant(reach)


@dataclass(frozen=True)
class Owner:
    """Whose a resource is. An owner lookup returns it (with what it loaded, for the handler)."""

    tenant_id: str
    organisation_id: str | None = None
    account_id: str | None = None
    resource: Any = None

    def within(self, caller: Principal, reach: Reach) -> bool:
        """Whether a caller reaching this far may see this resource."""
        if self.tenant_id != caller.tenant_id:
            return False
        if reach == TENANT:
            return True
        if self.account_id is not None and self.account_id == caller.account_id:
            return True
        return (
            reach == ORGANISATION
            and caller.organisation_id is not None
            and self.organisation_id == caller.organisation_id
        )


def path_uuid(request: web.Request, name: str) -> uuid.UUID | None:
    """A path parameter that must be a UUID, for owner lookups; None when it is not one (it names
    nothing then: the guard answers 404 as for a missing resource)."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        return None


OwnerLookup = Callable[[web.Request, Principal], Awaitable[Owner | None]]
"""Finds the owner of the resource a request names in its path; None when there is no such resource."""


@dataclass(frozen=True)
class Scope:
    """What a caller may see of a collection: filter every query by each field that is not None."""

    tenant_id: str
    organisation_id: str | None
    account_id: str | None


VERIFIER = web.AppKey("verifier", TokenVerifier)
REVOCATIONS = web.AppKey("revocations", Revocations)
"""The process's ended sessions: whatever verifier an app installs must refuse their tokens."""
_OWNER = web.RequestKey("owner", Owner)
_REACH = web.RequestKey("reach", Reach)


@dataclass(frozen=True)
class Endpoint:
    """One route: what it does, who may call it and how far they reach, what it reads and answers.

    A route whose path names a resource (`/orders/{order_id}`) must give `owner`, the lookup of that
    resource's owner: the guard answers 404 when it is missing, of another tenant, or beyond the
    caller's reach, before the handler runs. `add_endpoints` refuses a guarded route without one.
    """

    method: str
    path: str
    handler: Handler
    summary: str
    roles: Grant | None = AUTHENTICATED
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    query: type[BaseModel] | None = None  # query parameters, read with `http.read_query`
    status: int = 200
    # Acts once per Idempotency-Key: a replay answers the first result. The handler acts in the
    # transaction `idempotency.once` gives it, which also stores its answer (see `idempotent`).
    idempotent: bool = False
    owner: OwnerLookup | None = None
    upload: tuple[str, ...] = ()  # media types of a raw (file) body, for OpenAPI
    # Problems this route answers beyond those every route of its kind does (see `_operation`),
    # with when: e.g. {409: "the code is taken"}.
    problems: Mapping[int, str] = field(default_factory=dict)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    @property
    def path_parameters(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{") and part.endswith("}")]


def add_endpoints(app: web.Application, endpoints: Sequence[Endpoint]) -> None:
    """Route each endpoint behind its access rule: no route can forget to check the token, the
    caller's roles, or whose resource it names.

    One resource per path holds all its methods and answers any other method with 405 and an
    `Allow` of its own methods. Without it aiohttp would try the next resource matching the URL
    (`/activations/code` also matches `/activations/{token}`): the request would reach a route the
    document does not give that path, and `Allow` would list the methods of both.
    """
    by_path: dict[str, list[Endpoint]] = {}
    for endpoint in endpoints:
        if endpoint.roles is not None and endpoint.path_parameters and endpoint.owner is None:
            raise ValueError(f"{endpoint.method} {endpoint.path} names a resource but gives no owner lookup")
        by_path.setdefault(endpoint.path, []).append(endpoint)
    for path, routes in by_path.items():
        resource = app.router.add_resource(path)
        for endpoint in routes:
            resource.add_route(endpoint.method, _guarded(endpoint))
        resource.add_route(hdrs.METH_ANY, _method_not_allowed(sorted(e.method for e in routes)))


def _method_not_allowed(allowed: list[str]) -> Handler:
    async def method_not_allowed(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMethodNotAllowed(request.method, allowed)

    return method_not_allowed


def owner(request: web.Request) -> Owner:
    """The owner the route's lookup found (with the resource it loaded)."""
    return request[_OWNER]


def owned(request: web.Request, kind: type[R]) -> R:
    """The resource the route's owner lookup loaded, as the type the handler expects."""
    resource = request[_OWNER].resource
    if not isinstance(resource, kind):
        raise TypeError(f"the owner lookup loaded a {type(resource).__name__}, not a {kind.__name__}")
    return resource


def scope(request: web.Request) -> Scope:
    """The part of a collection the caller may see, from the reach of their roles on this route."""
    caller, reach = principal(request), request[_REACH]
    if reach == TENANT:
        return Scope(caller.tenant_id, None, None)
    if reach == ORGANISATION and caller.organisation_id is not None:
        return Scope(caller.tenant_id, caller.organisation_id, None)
    return Scope(caller.tenant_id, None, caller.account_id)


_NOT_FOUND = Problem(404, "Not found", type="not-found", detail="no such resource here")


def _guarded(endpoint: Endpoint) -> Handler:
    grant = endpoint.roles
    handler = (
        idempotent(endpoint.handler, endpoint.path_parameters) if endpoint.idempotent else endpoint.handler
    )
    if grant is None:
        if not endpoint.path_parameters:
            return handler

        async def public(request: web.Request) -> web.StreamResponse:
            read_path_parameters(request)
            return await handler(request)

        public.__name__ = handler.__name__
        return public

    async def guarded(request: web.Request) -> web.StreamResponse:
        # Before the owner lookup, which reads the parameters from the database.
        read_path_parameters(request)
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise Problem(
                401,
                "Authentication required",
                type="unauthenticated",
                detail="send an access token as 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        caller = await request.app[VERIFIER].verify(header.removeprefix("Bearer ").strip())
        reach = grant.reach_of(caller)
        if reach is None:
            raise Problem(
                403,
                "Forbidden",
                type="forbidden",
                detail=f"this needs one of the roles: {', '.join(grant.roles)}",
            )
        request[PRINCIPAL] = caller
        request[_REACH] = reach
        if endpoint.owner is not None:
            found = await endpoint.owner(request, caller)
            # Another tenant's or another owner's resource is as absent as a missing one.
            if found is None or not found.within(caller, reach):
                raise _NOT_FOUND
            request[_OWNER] = found
        return await handler(request)

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


def exactly_one_of(*names: str) -> dict[str, Any]:
    """A body's JSON Schema rule that exactly one of these optional fields is given (not null), for
    a model's `json_schema_extra` when its handler refuses none or several."""
    return {
        "oneOf": [{"required": [name], "properties": {name: {"not": {"type": "null"}}}} for name in names]
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


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}


def answers(endpoint: Endpoint) -> dict[int, str]:
    """The problem statuses a route answers, and when: those every route of its kind answers, then
    the route's own `problems`."""
    has_body = endpoint.body is not None or bool(endpoint.upload)
    codes = {
        400: "Malformed request: invalid JSON, a bad header, an invalid Idempotency-Key, or a path the"
        " gateway refuses",
        429: "Too many requests from this client or for this account: wait Retry-After seconds",
    }
    if endpoint.roles is not None:
        codes |= {401: "Missing, invalid or revoked token", 403: "None of the caller's roles may do this"}
    if endpoint.path_parameters:
        codes[404] = "No such resource here (or not within the caller's reach)"
    if has_body:
        codes |= {413: "Body too large", 415: "Body of an unsupported media type"}
    if has_body or endpoint.query is not None or endpoint.path_parameters or endpoint.idempotent:
        codes[422] = "Invalid fields: each is named in `errors`"
    return codes | dict(endpoint.problems)


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    ok: dict[str, Any] = {"description": "OK"}
    if endpoint.response is not None:
        ok["content"] = {"application/json": {"schema": _ref(endpoint.response)}}
    responses: dict[str, Any] = {str(endpoint.status): ok}
    for code, text in sorted(answers(endpoint).items()):
        responses[str(code)] = {"description": text, "content": problem}
        if code == 429:
            responses[str(code)]["headers"] = _RETRY_AFTER
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in endpoint.path_parameters
    ]
    if endpoint.query is not None:
        schema = endpoint.query.model_json_schema()
        required = set(schema.get("required", []))
        parameters += [
            {"name": name, "in": "query", "required": name in required, "schema": _query_schema(prop)}
            | ({"description": prop["description"]} if "description" in prop else {})
            for name, prop in schema.get("properties", {}).items()
        ]
    if endpoint.idempotent:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
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
    elif endpoint.upload:
        binary = {"schema": {"type": "string", "format": "binary"}}
        operation["requestBody"] = {"required": True, "content": dict.fromkeys(endpoint.upload, binary)}
    if endpoint.roles is not None:
        operation["security"] = [{"bearer": []}]
        operation["x-roles"] = {role: reach.name.lower() for role, reach in endpoint.roles.reach.items()}
    return operation


def _query_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: an absent parameter is its null, which a query string cannot spell."""
    schema = {k: v for k, v in prop.items() if k not in ("description", "title", "default")}
    variants = schema.get("anyOf")
    if variants is not None:
        kept = [v for v in variants if v != {"type": "null"}]
        schema.pop("anyOf")
        schema |= kept[0] if len(kept) == 1 else {"anyOf": kept}
    return schema
