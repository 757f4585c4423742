"""What several of identity's route modules share: the API's setup, the platform key check, owner
lookups and the grants of the endpoint tables."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from libs.common.api import (
    ANY_ROLE,
    ORGANISATION,
    REVOCATIONS,
    SELF,
    TENANT,
    VERIFIER,
    Grant,
    Owner,
    grant,
    path_uuid,
    roles,
)
from libs.common.auth import Principal, TokenVerifier, principal
from libs.common.errors import Forbidden, NotFound
from libs.common.http import read_header
from libs.common.runtime import POOL
from services.identity import signing, store
from services.identity.domain import ADMIN, Account
from services.identity.limits import LIMITS, Limits
from services.identity.policy import Policy

POLICY = web.AppKey("identity_policy", Policy)
PLATFORM_KEY_HEADER = "X-Platform-Key"


def setup(app: web.Application, policy: Policy, rate_limits: Limits) -> None:
    """Give the API its policy and rate limits, and verify tokens with identity's own keys rather
    than over HTTP."""
    app[POLICY] = policy
    app[LIMITS] = rate_limits

    async def own_public_keys() -> Mapping[str, Any]:
        return {key.kid: key.public_key for key in await signing.all_keys(app[POOL])}

    app[VERIFIER] = TokenVerifier(own_public_keys, revocations=app[REVOCATIONS])


def check_platform_key(request: web.Request, action: str) -> None:
    """Platform operations (creating a tenant, rotating keys) need the platform's key, compared in
    constant time; a service given no key refuses them all."""
    expected = request.app[POLICY].platform_key
    if expected is None:
        raise Forbidden(
            "platform-key-unset",
            "Forbidden",
            f"{action} is off: this identity service has no platform key (PLATFORM_KEY)",
        )
    given = read_header(request, PLATFORM_KEY_HEADER) or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden(
            "platform-key-required",
            "Forbidden",
            f"{action} needs the platform's key in the {PLATFORM_KEY_HEADER} header",
        )


def as_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


async def caller_account(request: web.Request) -> Account:
    caller = principal(request)
    account_id = as_uuid(caller.account_id)
    account = await store.account(request.app[POOL], caller.tenant_id, account_id) if account_id else None
    if account is None:
        raise NotFound("account-not-found", "No such account", "the account no longer exists")
    return account


async def account_owner(request: web.Request, caller: Principal) -> Owner | None:
    account_id = path_uuid(request, "account_id")
    found = await store.account_anywhere(request.app[POOL], account_id) if account_id else None
    if found is None:
        return None
    organisation_id = str(found.organisation_id) if found.organisation_id else None
    return Owner(found.tenant_id, organisation_id, str(found.account_id), resource=found)


ADMIN_ONLY = roles(ADMIN)
ADMIN_OR_VALIDATOR = grant(admin=TENANT, validator=ORGANISATION)


def no_content() -> web.Response:
    return web.Response(status=204)


OWN_ACCOUNT = Grant({ANY_ROLE: SELF})
"""Any role, on the caller's own account only."""
