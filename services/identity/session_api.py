"""Identity's sessions API: log in, the key set that verifies access tokens."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from libs.common.api import PUBLIC, Endpoint
from libs.common.http import json_response, read_json
from libs.common.runtime import POOL
from services.identity import sessions, signing
from services.identity.api import POLICY
from services.identity.domain import MAX_PASSWORD


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenSession(_Body):
    tenant_id: str = Field(max_length=40, description="The tenant the account belongs to")
    email: str = Field(max_length=254, description="The account's email, in any case")
    password: str = Field(max_length=MAX_PASSWORD, description="The account's password")


class SessionView(BaseModel):
    access_token: str = Field(description="An EdDSA-signed JWT (see docs/contracts.md for its claims)")
    token_type: Literal["Bearer"] = Field(description="Send it as 'Authorization: Bearer <token>'")
    expires_in: int = Field(description="Seconds until the token expires")


class Jwk(BaseModel):
    kty: Literal["OKP"] = Field(description="Key type: octet key pair")
    crv: Literal["Ed25519"] = Field(description="The curve")
    alg: Literal["EdDSA"] = Field(description="The signature algorithm")
    use: Literal["sig"] = Field(description="Signature keys")
    kid: str = Field(description="The key id, in the header of the tokens it signs")
    x: str = Field(description="The public key, base64url without padding")


class Jwks(BaseModel):
    """The public keys that verify identity's access tokens."""

    keys: list[Jwk] = Field(description="Every key whose tokens may still be valid")


# --- handlers ---


async def open_session(request: web.Request) -> web.Response:
    body = await read_json(request, OpenSession)
    policy = request.app[POLICY]
    token = await sessions.open_session(request.app[POOL], policy, body.tenant_id, body.email, body.password)
    expires_in = int(policy.access_token_ttl.total_seconds())
    return json_response(SessionView(access_token=token, token_type="Bearer", expires_in=expires_in))


async def get_jwks(request: web.Request) -> web.Response:
    keys = await signing.all_keys(request.app[POOL])
    return json_response(Jwks(keys=[Jwk.model_validate(key.jwk()) for key in keys]))


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
        "/sessions",
        open_session,
        "Log in: exchange an email and password for an access token",
        roles=PUBLIC,
        body=OpenSession,
        response=SessionView,
    ),
]
