"""Identity's credentials API: log in and out, refresh, change or recover a password, unlock an
account, and the signing keys (their JWKS and their rotation)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import jwt
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from libs.common.api import ANY_ROLE, PUBLIC, SELF, Endpoint, Grant, exactly_one_of, owner, roles
from libs.common.auth import principal
from libs.common.errors import Invalid
from libs.common.http import json_response, read_json
from libs.common.runtime import POOL
from services.identity import sessions, signing
from services.identity.api import POLICY, account_owner, check_platform_key
from services.identity.domain import ADMIN, MAX_PASSWORD, Account
from services.identity.limits import limit, source

Secret = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD)]
Login = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenSession(_Body):
    """Credentials: give `login` (an email, a registration number or a card number, as the tenant
    allows), or `email` as before."""

    model_config = ConfigDict(json_schema_extra=exactly_one_of("login", "email"))

    tenant_id: str = Field(max_length=40, description="The tenant the account belongs to")
    login: Login | None = Field(
        None, description="An email, a registration number or a loyalty card number (as the tenant allows)"
    )
    email: Login | None = Field(None, description="Older form of `login` that accepts only an email")
    password: str = Field(max_length=MAX_PASSWORD, description="The account's password")


class SessionView(BaseModel):
    access_token: str = Field(description="An EdDSA-signed JWT (see docs/contracts.md for its claims)")
    token_type: Literal["Bearer"] = Field(description="Send it as 'Authorization: Bearer <token>'")
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str = Field(
        description="Opaque; exchange it at POST /sessions/refresh for new tokens. Single use: each"
        " refresh returns the next one, and presenting a used one again ends the session"
    )
    refresh_expires_in: int = Field(description="Seconds until the session ends (counted from the login)")

    @classmethod
    def of(cls, session: sessions.Session, now: datetime) -> SessionView:
        return cls(
            access_token=session.access_token,
            token_type="Bearer",
            expires_in=session.expires_in,
            refresh_token=session.refresh_token,
            refresh_expires_in=round((session.refresh_expires_at - now).total_seconds()),
        )


class PasswordChangeRequired(BaseModel):
    """The 403 problem of a right password whose owner must choose a new one first."""

    type: str = Field(description="urn:comptoir:problem:password-change-required")
    title: str = Field(description="Password change required")
    status: int = Field(description="403")
    detail: str = Field(description="What to do")
    instance: str = Field(description="The path called")
    password_change_required: Literal[True] = Field(description="Always true")
    change_token: str = Field(
        description="Single use: send it with the new password to /sessions/password-change"
    )
    change_token_expires_in: int = Field(description="Seconds the change token works")


class ChangeRequiredPassword(_Body):
    change_token: Secret = Field(description="The change_token of the login's 403 answer")
    new_password: Password = Field(description="The new password: the tenant's policy, not the old one")


class RefreshSession(_Body):
    refresh_token: Secret = Field(description="The latest refresh token of the session")


class LogOut(_Body):
    refresh_token: Secret = Field(description="A refresh token of the session to end")


class SessionsRevoked(BaseModel):
    revoked: int = Field(description="How many sessions were ended")


class ChangePassword(_Body):
    current_password: str = Field(max_length=MAX_PASSWORD, description="The password in use")
    new_password: Password = Field(description="The new password: the tenant's policy, not the current one")


class RequestRecovery(_Body):
    tenant_id: str = Field(max_length=40, description="The tenant the account belongs to")
    login: Login = Field(description="The email, phone number (+33…), registration number or card number")
    channel: Literal["email", "sms", "both"] = Field(
        "both", description="Where to send the code; a channel the account cannot receive is replaced"
    )


class RecoveryAccepted(BaseModel):
    detail: str = Field(description="The same answer whether or not an account matched")


class ConfirmRecovery(_Body):
    tenant_id: str = Field(max_length=40, description="The tenant the account belongs to")
    login: Login = Field(description="The login given when asking for the code")
    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{6}$")] = Field(
        description="The 6 digits received"
    )
    new_password: Password = Field(description="The new password, under the tenant's policy")


class KeyRotated(BaseModel):
    kid: str = Field(description="The new key, published now")
    signs_from: datetime = Field(description="When it starts signing (a few seconds from now)")
    retired: list[str] = Field(description="The keys that stop signing then")
    published_until: datetime | None = Field(
        description="Until when the retired keys stay in the JWKS: their last tokens expire by then"
    )


class Jwk(BaseModel):
    kty: Literal["OKP"] = Field(description="Key type: octet key pair")
    crv: Literal["Ed25519"] = Field(description="The curve")
    alg: Literal["EdDSA"] = Field(description="The signature algorithm")
    use: Literal["sig"] = Field(description="Signature keys")
    kid: str = Field(description="The key id, in the header of the tokens it signs")
    x: str = Field(description="The public key, base64url without padding")


class Jwks(BaseModel):
    """The public keys that verify identity's access tokens."""

    keys: list[Jwk] = Field(description="Every key whose tokens may still be valid, and the next one")


# --- handlers ---


# Tokens are never kept by a browser's or a proxy's cache.
NO_STORE = {"Cache-Control": "no-store"}


def _no_content() -> web.Response:
    return web.Response(status=204)


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
    return _no_content()


async def revoke_my_sessions(request: web.Request) -> web.Response:
    caller = principal(request)
    revoked = await sessions.revoke_sessions(
        request.app[POOL], request.app[POLICY], caller.tenant_id, caller.account_id
    )
    return json_response(SessionsRevoked(revoked=revoked))


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
    return _no_content()


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
    return _no_content()


async def unlock_account(request: web.Request) -> web.Response:
    account: Account = owner(request).resource
    await sessions.unlock_account(request.app[POOL], account.account_id)
    return _no_content()


async def rotate_signing_keys(request: web.Request) -> web.Response:
    check_platform_key(request, "rotating the signing keys")
    rotation = await signing.rotate(request.app[POOL], request.app[POLICY])
    return json_response(
        KeyRotated(
            kid=rotation.kid,
            signs_from=rotation.signs_from,
            retired=rotation.retired,
            published_until=rotation.published_until,
        )
    )


async def get_jwks(request: web.Request) -> web.Response:
    keys = await signing.all_keys(request.app[POOL], request.app[POLICY].clock())
    return json_response(Jwks(keys=[Jwk.model_validate(key.jwk()) for key in keys]))


OWN_ACCOUNT = Grant({ANY_ROLE: SELF})
"""Any role, on the caller's own account only."""

ENDPOINTS = [
    Endpoint(
        "GET",
        "/.well-known/jwks.json",
        get_jwks,
        "The public keys that verify access tokens (JWKS)",
        roles=PUBLIC,
        response=Jwks,
    ),
    Endpoint(
        "POST",
        "/signing-keys/rotate",
        rotate_signing_keys,
        "Publish a new signing key, which signs a few seconds later (needs the X-Platform-Key header)",
        roles=PUBLIC,
        response=KeyRotated,
        problems={403: "X-Platform-Key missing or wrong"},
    ),
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
