"""Returns and claims over HTTP: a buyer asks to send back goods of her delivered order and adds
photos; the admin's queue (overdue first) and her decision."""

from __future__ import annotations

import uuid
from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel

from libs.common import idempotency
from libs.common.api import SELF, TENANT, Endpoint, Owner, grant, owned, path_uuid, scope
from libs.common.auth import Principal, principal
from libs.common.clock import now
from libs.common.files import read_upload, sniff, unsupported
from libs.common.http import json_response, read_json, read_query
from libs.common.runtime import POOL
from services.ordering import returns
from services.ordering.api import MAX_LINES, OrderLineRequest, order_owner
from services.ordering.domain import Order, merge_lines
from services.ordering.returns import MAX_PHOTO_BYTES, PHOTO_TYPES, Return, ReturnStatus

DEFAULT_LIMIT, MAX_LIMIT = 50, 200


class ReturnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[OrderLineRequest] = Field(
        min_length=1, max_length=MAX_LINES, description="What goes back: codes of the order and how many"
    )
    reason: str = Field(min_length=1, max_length=1000, description="Why the goods go back")


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Refusal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Why, for the buyer")


class ReturnView(Return):
    overdue: bool = Field(description="Still waiting past its due time")

    @classmethod
    def of(cls, found: Return, at: datetime) -> ReturnView:
        return cls(**dict(found), overdue=found.is_overdue(at))


class ReturnList(RootModel[list[ReturnView]]):
    """Waiting returns first (the longest overdue first), then the decided ones, newest first."""


class ReturnQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ReturnStatus | None = Field(None, description="Only returns in this state")
    order_id: uuid.UUID | None = Field(None, description="Only the returns of this order")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="At most this many")


class PhotoView(BaseModel):
    photo_id: uuid.UUID = Field(description="The photo's id")
    content_type: str = Field(description="Its type, told by its first bytes")
    size_bytes: int = Field(description="Its size")


async def request_return(request: web.Request) -> web.Response:
    body = await read_json(request, ReturnRequest)
    conn = await idempotency.once(request, body)
    at = now(request)
    asked = [
        (line.code, line.quantity) for line in merge_lines((line.code, line.quantity) for line in body.lines)
    ]
    created = await returns.request_return(conn, owned(request, Order), asked, body.reason, at)
    return json_response(ReturnView.of(created, at), status=201)


async def return_owner(request: web.Request, caller: Principal) -> Owner | None:
    return_id = path_uuid(request, "return_id")
    found = await returns.find(request.app[POOL], return_id) if return_id else None
    if found is None:
        return None
    return Owner(found.tenant_id, found.organisation_id, found.account_id, resource=found)


async def get_return(request: web.Request) -> web.Response:
    return json_response(ReturnView.of(owned(request, Return), now(request)))


async def list_returns(request: web.Request) -> web.Response:
    seen, query = scope(request), read_query(request, ReturnQuery)
    found = await returns.listed(
        request.app[POOL], seen.tenant_id, seen.account_id, query.status, query.order_id, query.limit
    )
    at = now(request)
    return json_response(ReturnList([ReturnView.of(r, at) for r in found]))


async def add_photo(request: web.Request) -> web.Response:
    waiting = owned(request, Return)
    content = await read_upload(request, MAX_PHOTO_BYTES)
    media_type = sniff(content)
    if media_type not in PHOTO_TYPES:
        raise unsupported(media_type, PHOTO_TYPES)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        photo_id = await returns.add_photo(conn, waiting, media_type, content, now(request))
    return json_response(
        PhotoView(photo_id=photo_id, content_type=media_type, size_bytes=len(content)), status=201
    )


async def get_photo(request: web.Request) -> web.StreamResponse:
    found = owned(request, Return)
    photo_id = path_uuid(request, "photo_id")
    stored = await returns.photo(request.app[POOL], found.return_id, photo_id) if photo_id else None
    if stored is None:
        raise web.HTTPNotFound
    content_type, content = stored
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}
    return web.Response(body=content, content_type=content_type, headers=headers)


async def accept(request: web.Request) -> web.Response:
    body = await read_json(request, Decision)
    conn = await idempotency.once(request, body)
    at = now(request)
    decided = await returns.decide(
        conn, owned(request, Return), True, principal(request).account_id, None, at
    )
    return json_response(ReturnView.of(decided, at))


async def refuse(request: web.Request) -> web.Response:
    body = await read_json(request, Refusal)
    conn = await idempotency.once(request, body)
    at = now(request)
    decided = await returns.decide(
        conn, owned(request, Return), False, principal(request).account_id, body.reason, at
    )
    return json_response(ReturnView.of(decided, at))


BUYERS = grant(admin=TENANT, partner=SELF, validator=SELF, seller=SELF, customer=SELF)
ADMIN = grant(admin=TENANT)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/orders/{order_id}/returns",
        request_return,
        "Ask to send back goods of a delivered order (part of a line's quantity too) with the reason: at"
        " most what was ordered less what other returns took; 409 when the order is not delivered",
        roles=BUYERS,
        body=ReturnRequest,
        response=ReturnView,
        status=201,
        owner=order_owner,
        idempotent=True,
    ),
    Endpoint(
        "GET",
        "/returns",
        list_returns,
        "Returns: the buyer's own, the tenant's for an admin (her queue: waiting ones first, the longest"
        " overdue first); ?status=, ?order_id=, ?limit=",
        roles=BUYERS,
        response=ReturnList,
        query=ReturnQuery,
    ),
    Endpoint(
        "GET",
        "/returns/{return_id}",
        get_return,
        "One return with its decision",
        roles=BUYERS,
        response=ReturnView,
        owner=return_owner,
    ),
    Endpoint(
        "POST",
        "/returns/{return_id}/photos",
        add_photo,
        f"A photo of the goods (JPEG, PNG or WebP, told by its bytes; at most {MAX_PHOTO_BYTES // 1_048_576}"
        f" MiB, {returns.MAX_PHOTOS} per return) while the return waits",
        roles=grant(partner=SELF, validator=SELF, seller=SELF, customer=SELF),
        response=PhotoView,
        status=201,
        owner=return_owner,
        upload=tuple(sorted(PHOTO_TYPES)),
        problems={413: "the photo is too large", 415: "not a JPEG, PNG or WebP image"},
    ),
    Endpoint(
        "GET",
        "/returns/{return_id}/photos/{photo_id}",
        get_photo,
        "A photo of a return",
        roles=BUYERS,
        owner=return_owner,
    ),
    Endpoint(
        "POST",
        "/returns/{return_id}/accept",
        accept,
        "Accept a waiting return: the goods' price including VAT goes to the buyer's balance (409 once"
        " decided)",
        roles=ADMIN,
        body=Decision,
        response=ReturnView,
        owner=return_owner,
        idempotent=True,
    ),
    Endpoint(
        "POST",
        "/returns/{return_id}/refuse",
        refuse,
        "Refuse a waiting return, saying why (409 once decided)",
        roles=ADMIN,
        body=Refusal,
        response=ReturnView,
        owner=return_owner,
        idempotent=True,
    ),
]
