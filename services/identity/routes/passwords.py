"""Passwords: changing one's own, recovery by a one-time code, and an admin unlocking an account."""

from __future__ import annotations

import uuid

import jwt
from aiohttp import web

from libs.common.api import PUBLIC, Endpoint, owned, roles
from libs.common.auth import principal
from libs.common.http import json_response, read_json
from libs.common.runtime import POOL
from services.identity import sessions
from services.identity.domain import ADMIN, Account
from services.identity.limits import limit, source
from services.identity.routes.common import OWN_ACCOUNT, POLICY, account_owner, no_content
from services.identity.schemas import ChangePassword, ConfirmRecovery, RecoveryAccepted, RequestRecovery


def _session_id(request: web.Request) -> uuid.UUID | None:
    """The `sid` claim of the caller's token (the guard verified the token: only its claims are read)."""
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    try:
        sid = jwt.decode(token, options={"verify_signature": False}).get("sid")
        return uuid.UUID(sid) if isinstance(sid, str) else None
    except (jwt.PyJWTError, ValueError):
        return None


async def change_my_password(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, ChangePassword)
    await sessions.change_password(
        request.app[POOL],
        request.app[POLICY],
        caller.tenant_id,
        caller.account_id,
        _session_id(request),
        body.current_password,
        body.new_password,
        source(request),
    )
    return no_content()


async def request_recovery(request: web.Request) -> web.Response:
    limit(request, "message")
    body = await read_json(request, RequestRecovery)
    policy = request.app[POLICY]
    await sessions.request_recovery(request.app[POOL], policy, body.tenant_id, body.login, body.channel)
    minutes = int(policy.recovery_code_ttl.total_seconds() // 60)
    return json_response(
        RecoveryAccepted(
            detail="if this login is an active account's, a code was sent to it;"
            f" it works for {minutes} minutes"
        ),
        status=202,
    )


async def confirm_recovery(request: web.Request) -> web.Response:
    limit(request, "code")
    body = await read_json(request, ConfirmRecovery)
    await sessions.confirm_recovery(
        request.app[POOL], request.app[POLICY], body.tenant_id, body.login, body.code, body.new_password
    )
    return no_content()


async def unlock_account(request: web.Request) -> web.Response:
    account = owned(request, Account)
    await sessions.unlock_account(request.app[POOL], account.account_id)
    return no_content()


ENDPOINTS = [
    Endpoint(
        "POST",
        "/me/password",
        change_my_password,
        "Change the caller's password; the caller's other sessions end",
        roles=OWN_ACCOUNT,
        body=ChangePassword,
        status=204,
        problems={
            404: "The caller's account no longer exists",
            409: "The password changed meanwhile: log in again",
            423: "The account is locked after failed logins",
        },
    ),
    Endpoint(
        "POST",
        "/recoveries",
        request_recovery,
        "Ask for a recovery code by SMS and/or email; the same answer whether or not the account exists",
        roles=PUBLIC,
        body=RequestRecovery,
        response=RecoveryAccepted,
        status=202,
    ),
    Endpoint(
        "POST",
        "/recoveries/confirm",
        confirm_recovery,
        "Choose a new password with a recovery code; unlocks the account and ends all its sessions",
        roles=PUBLIC,
        body=ConfirmRecovery,
        status=204,
    ),
    Endpoint(
        "POST",
        "/accounts/{account_id}/unlock",
        unlock_account,
        "Unlock an account locked after failed logins, for every address it was locked for",
        roles=roles(ADMIN),
        owner=account_owner,
        status=204,
    ),
]
