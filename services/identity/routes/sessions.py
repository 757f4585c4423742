"""Sessions: logging in, the forced password change, refreshing, logging out, ending every session."""

from __future__ import annotations

from aiohttp import web

from libs.common.api import PUBLIC, Endpoint
from libs.common.auth import principal
from libs.common.errors import Invalid
from libs.common.http import json_response, read_json
from libs.common.runtime import POOL
from services.identity import sessions
from services.identity.limits import limit, source
from services.identity.routes.common import OWN_ACCOUNT, POLICY, no_content
from services.identity.schemas import (
    ChangeRequiredPassword,
    LogOut,
    OpenSession,
    PasswordChangeRequired,
    RefreshSession,
    SessionsRevoked,
    SessionView,
)

# Tokens are never kept by a browser's or a proxy's cache.
NO_STORE = {"Cache-Control": "no-store"}


async def open_session(request: web.Request) -> web.Response:
    caller = limit(request, "sign_in")
    body = await read_json(request, OpenSession)
    if body.login is not None and body.email is not None:
        raise Invalid.field("email", "give login or email, not both", "conflict")
    login = body.login or body.email
    if login is None:
        raise Invalid.field("login", "Field required", "missing")
    policy = request.app[POLICY]
    try:
        session = await sessions.open_session(
            request.app[POOL],
            policy,
            body.tenant_id,
            login,
            body.password,
            caller,
            email_only=body.login is None,
        )
    except sessions.PasswordChangeRequired as required:
        problem = PasswordChangeRequired(
            type="urn:comptoir:problem:password-change-required",
            title="Password change required",
            status=403,
            detail="choose a new password: send it with change_token to POST /sessions/password-change",
            instance=request.path,
            password_change_required=True,
            change_token=required.change_token,
            change_token_expires_in=required.expires_in,
        )
        return web.json_response(
            problem.model_dump(), status=403, content_type="application/problem+json", headers=NO_STORE
        )
    return json_response(SessionView.of(session, policy.clock()), headers=NO_STORE)


async def change_required_password(request: web.Request) -> web.Response:
    body = await read_json(request, ChangeRequiredPassword)
    policy = request.app[POLICY]
    session = await sessions.change_required_password(
        request.app[POOL], policy, body.change_token, body.new_password, source(request)
    )
    return json_response(SessionView.of(session, policy.clock()), headers=NO_STORE)


async def refresh_session(request: web.Request) -> web.Response:
    body = await read_json(request, RefreshSession)
    policy = request.app[POLICY]
    session = await sessions.refresh_session(request.app[POOL], policy, body.refresh_token, source(request))
    return json_response(SessionView.of(session, policy.clock()), headers=NO_STORE)


async def log_out(request: web.Request) -> web.Response:
    body = await read_json(request, LogOut)
    await sessions.log_out(request.app[POOL], request.app[POLICY], body.refresh_token)
    return no_content()


async def revoke_my_sessions(request: web.Request) -> web.Response:
    caller = principal(request)
    revoked = await sessions.revoke_sessions(
        request.app[POOL], request.app[POLICY], caller.tenant_id, caller.account_id
    )
    return json_response(SessionsRevoked(revoked=revoked))


ENDPOINTS = [
    Endpoint(
        "POST",
        "/sessions",
        open_session,
        "Log in with a login (email, registration or card number) and password: an access and a refresh"
        " token; 403 password-change-required with a change_token when a new password must be chosen first;"
        " 423 when failed logins locked this client's address out of the account; 429 when this address"
        " signs in too often",
        roles=PUBLIC,
        body=OpenSession,
        response=SessionView,
        problems={
            401: "Wrong login or password",
            403: "The account is not activated, or a new password must be chosen first (change_token)",
            423: "The account is locked after failed logins",
        },
    ),
    Endpoint(
        "POST",
        "/sessions/password-change",
        change_required_password,
        "Choose the new password a login asked for, with its change_token; opens the session",
        roles=PUBLIC,
        body=ChangeRequiredPassword,
        response=SessionView,
        problems={
            401: "The change token is unknown, used or expired",
            423: "The account is locked after failed logins",
        },
    ),
    Endpoint(
        "POST",
        "/sessions/refresh",
        refresh_session,
        "Exchange the refresh token for new tokens; a reused refresh token ends its session",
        roles=PUBLIC,
        body=RefreshSession,
        response=SessionView,
        problems={401: "The session ended: log in", 423: "The account is locked after failed logins"},
    ),
    Endpoint(
        "POST",
        "/sessions/logout",
        log_out,
        "End the session of this refresh token (again: nothing happens)",
        roles=PUBLIC,
        body=LogOut,
        status=204,
    ),
    Endpoint(
        "POST",
        "/me/sessions/revoke",
        revoke_my_sessions,
        "End every session of the caller: every service refuses their access tokens within a second",
        roles=OWN_ACCOUNT,
        response=SessionsRevoked,
        problems={404: "The caller's account no longer exists"},
    ),
]
