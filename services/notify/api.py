"""Notify's HTTP API: administrators follow the messages of their tenant."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel

from libs.common import api
from libs.common.api import TENANT, Endpoint, Owner, grant, path_uuid
from libs.common.auth import Principal
from libs.common.http import json_response, read_query
from libs.common.runtime import POOL
from services.notify import store
from services.notify.store import MessageView


class MessageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str | None = Field(None, min_length=1, max_length=200, description="Only this account's")
    limit: int = Field(100, ge=1, le=500, description="At most this many, newest first")


class MessageList(RootModel[list[MessageView]]):
    """The tenant's messages, newest first."""


async def list_messages(request: web.Request) -> web.Response:
    query = read_query(request, MessageQuery)
    # Only admins (tenant reach) are granted: the scope is the caller's tenant.
    scope = api.scope(request)
    messages = await store.list_messages(
        request.app[POOL], scope.tenant_id, account_id=query.account_id, limit=query.limit
    )
    return json_response(MessageList(messages))


async def message_owner(request: web.Request, caller: Principal) -> Owner | None:
    """The message the path names, whoever's it is: the guard compares its tenant with the caller's."""
    message_id = path_uuid(request, "message_id")
    if message_id is None:
        return None
    message = await store.get_message(request.app[POOL], message_id)
    if message is None:
        return None
    return Owner(tenant_id=message.tenant_id, account_id=message.account_id, resource=message.view)


async def get_message(request: web.Request) -> web.Response:
    message = api.owned(request, MessageView)
    return json_response(message)


ADMINS = grant(admin=TENANT)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/messages",
        list_messages,
        "The tenant's messages, newest first",
        roles=ADMINS,
        response=MessageList,
        query=MessageQuery,
    ),
    Endpoint(
        "GET",
        "/messages/{message_id}",
        get_message,
        "One message of the tenant",
        roles=ADMINS,
        response=MessageView,
        owner=message_owner,
    ),
]
