"""A merchant signs up for a space of her own, then confirms it from the link emailed to her."""

from __future__ import annotations

from aiohttp import web

from libs.common.api import PUBLIC, Endpoint
from libs.common.http import json_response, read_json
from libs.common.runtime import POOL
from services.identity import commands, signups
from services.identity.domain import TenantSettings
from services.identity.limits import limit
from services.identity.routes.common import POLICY
from services.identity.schemas import ConfirmSignUp, MerchantSignUp, SignUpStarted, TenantCreated


async def sign_up(request: web.Request) -> web.Response:
    limit(request, "registration")
    body = await read_json(request, MerchantSignUp)
    password_hash = await commands.hash_chosen_password(TenantSettings(), body.password)
    signup = signups.SignUp(**body.model_dump(exclude={"password"}), password_hash=password_hash)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        pending = await signups.start(conn, request.app[POLICY], signup)
    return json_response(SignUpStarted(status="verification_sent", expires_at=pending.expires_at), status=202)


async def confirm_sign_up(request: web.Request) -> web.Response:
    limit(request, "registration")
    body = await read_json(request, ConfirmSignUp)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        account = await signups.confirm(conn, request.app[POLICY], body.token)
    return json_response(
        TenantCreated(tenant_id=account.tenant_id, admin_account_id=account.account_id), status=201
    )


ENDPOINTS = [
    Endpoint(
        "POST",
        "/merchants",
        sign_up,
        "A merchant signs up: a link to confirm is emailed to her (nothing is created before)",
        roles=PUBLIC,
        body=MerchantSignUp,
        response=SignUpStarted,
        status=202,
        problems={409: "A space of this id exists", 429: "Too many sign-ups from this source"},
    ),
    Endpoint(
        "POST",
        "/merchants/confirmations",
        confirm_sign_up,
        "She follows the emailed link: her space and her manager account are created, active",
        roles=PUBLIC,
        body=ConfirmSignUp,
        response=TenantCreated,
        status=201,
        problems={
            404: "Unknown link",
            409: "The space's id was taken meanwhile",
            410: "Link used or expired",
        },
    ),
]
