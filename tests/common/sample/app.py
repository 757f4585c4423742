"""A tiny service exercising the shared endpoint table: access rules, idempotency, OpenAPI."""

from __future__ import annotations

import uuid
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from libs.common import idempotency
from libs.common.api import PUBLIC, Endpoint, roles
from libs.common.auth import principal
from libs.common.events import EventCatalog
from libs.common.http import Problem, json_response, read_json
from libs.common.runtime import POOL, ServiceSpec


class NewItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, description="What the item is called")


class Item(BaseModel):
    id: uuid.UUID
    name: str


async def ping(request: web.Request) -> web.Response:
    return web.json_response({"pong": True})


async def create_item(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, NewItem)
    once = idempotency.Once.of(request, f"{caller.tenant_id}:{caller.account_id}:create_item", body)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        if (replayed := await once.replay(conn)) is not None:
            return replayed
        item = Item(id=uuid.uuid4(), name=body.name)
        await conn.execute("INSERT INTO items VALUES ($1, $2, $3)", item.id, caller.tenant_id, item.name)
        await once.remember(conn, 201, item)
    return json_response(item, status=201)


async def get_item(request: web.Request) -> web.Response:
    row = await request.app[POOL].fetchrow(
        "SELECT id, name FROM items WHERE id = $1 AND tenant_id = $2",
        uuid.UUID(request.match_info["item_id"]),
        principal(request).tenant_id,
    )
    if row is None:
        raise Problem(404, "No such item")
    return json_response(Item(**dict(row)))


ENDPOINTS = [
    Endpoint("GET", "/ping", ping, "Liveness of the sample", roles=PUBLIC),
    Endpoint(
        "POST",
        "/items",
        create_item,
        "Create an item",
        roles=roles("admin"),
        body=NewItem,
        response=Item,
        status=201,
        idempotent=True,
    ),
    Endpoint("GET", "/items/{item_id}", get_item, "Read an item", response=Item),
]

SPEC = ServiceSpec(
    name="sample", folder=Path(__file__).parent, events=EventCatalog("sample", []), endpoints=ENDPOINTS
)
