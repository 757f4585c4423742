"""Activating an account: by the emailed link, by token with a password, by code, and resending."""

from __future__ import annotations

from aiohttp import web

from libs.common.api import PUBLIC, Endpoint
from libs.common.errors import Invalid
from libs.common.http import json_response, read_json
from libs.common.runtime import POOL
from services.identity import commands
from services.identity.domain import Account
from services.identity.limits import limit
from services.identity.policy import Delivery
from services.identity.routes.common import POLICY
from services.identity.schemas import (
    AccountActivated,
    ActivateAccount,
    ActivateWithCode,
    ResendAccepted,
    ResendActivation,
)


def _activated(account: Account) -> web.Response:
    return json_response(AccountActivated(account_id=account.account_id, status="active"))


async def follow_activation_link(request: web.Request) -> web.Response:
    account = await commands.activate_with_token(
        request.app[POOL], request.app[POLICY], request.match_info["token"], None
    )
    return _activated(account)


async def activate_account(request: web.Request) -> web.Response:
    body = await read_json(request, ActivateAccount)
    account = await commands.activate_with_token(
        request.app[POOL], request.app[POLICY], body.token, body.password
    )
    return _activated(account)


async def activate_with_code(request: web.Request) -> web.Response:
    limit(request, "code")
    body = await read_json(request, ActivateWithCode)
    if (body.login is None) == (body.account_id is None):
        raise Invalid.field("login", "give either a login or an account_id", "missing")
    account = await commands.activate_with_code(
        request.app[POOL],
        request.app[POLICY],
        body.tenant_id,
        body.account_id,
        body.login,
        body.code,
        body.password,
    )
    return _activated(account)


async def resend_activation(request: web.Request) -> web.Response:
    limit(request, "message")
    body = await read_json(request, ResendActivation)
    await commands.resend_activation(
        request.app[POOL],
        request.app[POLICY],
        body.tenant_id,
        body.login,
        Delivery(channel=body.channel, method=body.method),
    )
    return json_response(ResendAccepted(status="accepted"), status=202)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/activations/{token}",
        follow_activation_link,
        "Activate an account: the link of the activation message (409 when a password must be chosen)",
        roles=PUBLIC,
        response=AccountActivated,
        problems={
            409: "The account is active already, or its owner must choose a password (POST /activations)",
            410: "The link expired or was used",
        },
    ),
    Endpoint(
        "POST",
        "/activations",
        activate_account,
        "Activate an account with the token of its link, and the password its owner chooses",
        roles=PUBLIC,
        body=ActivateAccount,
        response=AccountActivated,
        problems={
            404: "Unknown activation link",
            409: "The account is active already",
            410: "The link expired or was used",
        },
    ),
    Endpoint(
        "POST",
        "/activations/code",
        activate_with_code,
        "Activate an account with the numeric code it was sent, and the password its owner chooses",
        roles=PUBLIC,
        body=ActivateWithCode,
        response=AccountActivated,
        problems={409: "The account is active already", 410: "The code expired, or too many wrong codes"},
    ),
    Endpoint(
        "POST",
        "/activations/resend",
        resend_activation,
        "Send a new activation link or code (same answer whether or not the account exists)",
        roles=PUBLIC,
        body=ResendActivation,
        response=ResendAccepted,
        status=202,
    ),
]
