"""A tiny service exercising the shared endpoint table: access rules, idempotency, OpenAPI."""

from __future__ import annotations

import uuid
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel

from libs.common import idempotency
from libs.common.api import (
    ORGANISATION,
    PUBLIC,
    SELF,
    TENANT,
    Endpoint,
    Owner,
    grant,
    owner,
    roles,
    scope,
)
from libs.common.auth import Principal, principal
from libs.common.events import EventCatalog
from libs.common.http import json_response, read_json
from libs.common.runtime import POOL, ServiceSpec
from libs.common.text import MultiLine


class NewItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, description="What the item is called")
    note: MultiLine = Field("", description="Free text, kept with its layout (not stored)")


class Item(BaseModel):
    id: uuid.UUID
    name: str


async def ping(request: web.Request) -> web.Response:
    return web.json_response({"pong": True})


async def create_item(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, NewItem)
    conn = await idempotency.once(request, body)
    item = Item(id=uuid.uuid4(), name=body.name)
    await conn.execute(
        "INSERT INTO items VALUES ($1, $2, $3, $4, $5)",
        item.id,
        caller.tenant_id,
        caller.organisation_id,
        caller.account_id,
        item.name,
    )
    return json_response(item, status=201, headers={"Location": f"/items/{item.id}"})


async def item_owner(request: web.Request, caller: Principal) -> Owner | None:
    try:
        item_id = uuid.UUID(request.match_info["item_id"])
    except ValueError:
        return None
    row = await request.app[POOL].fetchrow("SELECT * FROM items WHERE id = $1", item_id)
    if row is None:
        return None
    item = Item(id=row["id"], name=row["name"])
    return Owner(row["tenant_id"], row["organisation_id"], row["account_id"], resource=item)


async def get_item(request: web.Request) -> web.Response:
    return json_response(owner(request).resource)


class ItemList(RootModel[list[Item]]):
    """Items the caller may see."""


async def list_items(request: web.Request) -> web.Response:
    seen = scope(request)
    rows = await request.app[POOL].fetch(
        "SELECT id, name FROM items WHERE tenant_id = $1 AND ($2::text IS NULL OR organisation_id = $2)"
        " AND ($3::text IS NULL OR account_id = $3) ORDER BY name",
        seen.tenant_id,
        seen.organisation_id,
        seen.account_id,
    )
    return json_response(ItemList([Item(**dict(row)) for row in rows]))


async def count_named(request: web.Request) -> web.Response:
    count = await request.app[POOL].fetchval(
        "SELECT count(*) FROM items WHERE name = $1", request.match_info["name"]
    )
    return web.json_response({"count": count})


# Admins reach the tenant's items, validators their organisation's, partners their own.
READERS = grant(admin=TENANT, validator=ORGANISATION, partner=SELF)


ENDPOINTS = [
    Endpoint("GET", "/ping", ping, "Liveness of the sample", roles=PUBLIC),
    Endpoint("GET", "/names/{name}", count_named, "How many items bear a name", roles=PUBLIC),
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
    Endpoint(
        "POST",
        "/items/mine",
        create_item,
        "Create an item of one's own",
        roles=roles("admin", "validator", "partner"),
        body=NewItem,
        response=Item,
        status=201,
        idempotent=True,
    ),
    Endpoint("GET", "/items", list_items, "The items the caller may see", roles=READERS, response=ItemList),
    Endpoint(
        "GET", "/items/{item_id}", get_item, "Read an item", roles=READERS, response=Item, owner=item_owner
    ),
]

SPEC = ServiceSpec(
    name="sample", folder=Path(__file__).parent, events=EventCatalog("sample", []), endpoints=ENDPOINTS
)
