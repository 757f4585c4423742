"""Token signing keys: the JWKS other services verify with, and rotation on demand (platform key)."""

from __future__ import annotations

from aiohttp import web

from libs.common.api import PUBLIC, Endpoint
from libs.common.http import json_response
from libs.common.runtime import POOL
from services.identity import signing
from services.identity.routes.common import POLICY, check_platform_key
from services.identity.schemas import Jwk, Jwks, KeyRotated


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
]
