"""The caller's own account: reading and editing the profile, closing the account."""

from __future__ import annotations

from aiohttp import web

from libs.common.api import AUTHENTICATED, Endpoint
from libs.common.errors import Forbidden, Invalid
from libs.common.http import json_response, read_json
from libs.common.runtime import POOL
from services.identity import commands, passwords
from services.identity.domain import Address
from services.identity.routes.common import POLICY, caller_account
from services.identity.schemas import CloseAccount, EditProfile, MeView

_REQUIRED_IN_PROFILE = ("email", "display_name", "locale")


async def get_me(request: web.Request) -> web.Response:
    account = await caller_account(request)
    return json_response(MeView.of_own(account))


async def edit_me(request: web.Request) -> web.Response:
    body = await read_json(request, EditProfile)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    for name in _REQUIRED_IN_PROFILE:
        if name in changes and changes[name] is None:
            raise Invalid.field(name, "cannot be removed", "missing")
    if isinstance(address := changes.get("address"), Address):
        changes["address"] = address.model_dump()
    account = await caller_account(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        updated = await commands.update_profile(conn, request.app[POLICY], account.account_id, changes)
    return json_response(MeView.of_own(updated))


async def close_my_account(request: web.Request) -> web.Response:
    body = await read_json(request, CloseAccount)
    account = await caller_account(request)
    if not await passwords.verify_password(account.password_hash, body.password):
        raise Forbidden("wrong-password", "Wrong password", "the password does not match")
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await commands.close_account(conn, request.app[POLICY], account.account_id)
    return web.Response(status=204)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/me",
        get_me,
        "The caller's account",
        roles=AUTHENTICATED,
        response=MeView,
        problems={404: "The caller's account no longer exists"},
    ),
    Endpoint(
        "PATCH",
        "/me",
        edit_me,
        "Edit one's own details (a new email or phone is announced to notify)",
        roles=AUTHENTICATED,
        body=EditProfile,
        response=MeView,
        problems={404: "The caller's account no longer exists", 409: "The email or phone is taken"},
    ),
    Endpoint(
        "DELETE",
        "/me",
        close_my_account,
        "Close one's account for good (needs its password): every personal value is erased",
        roles=AUTHENTICATED,
        body=CloseAccount,
        status=204,
        problems={
            403: "Wrong password",
            404: "The caller's account no longer exists",
            409: "It would leave the tenant without an admin",
        },
    ),
]
