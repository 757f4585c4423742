"""Who calls catalog and what the app gives its handlers: the caller's view of the catalog, the
clock and limits, and the owner lookups that several route modules share."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol

import asyncpg
from aiohttp import web

from libs.common.api import (
    ANY_ROLE,
    ORGANISATION,
    TENANT,
    Grant,
    Owner,
    OwnerLookup,
    owned,
    path_uuid,
    roles,
)
from libs.common.auth import Principal, principal
from libs.common.runtime import POOL
from services.catalog import pricing_store, settings_api, store
from services.catalog.domain import Viewer

ADMIN_ROLE = "admin"
ADMIN = roles(ADMIN_ROLE)
"""Admins of the tenant: everything that changes the catalog."""
OWN_ORGANISATION = Grant({ANY_ROLE: ORGANISATION, ADMIN_ROLE: TENANT})
"""Admins reach every organisation of the tenant; anyone else only their own organisation."""


@dataclass(frozen=True)
class Limits:
    """How much a caller may send at once (settings `upload_max_bytes`, `import_max_*`)."""

    upload_max_bytes: int
    import_max_bytes: int
    import_max_lines: int


LIMITS = web.AppKey("limits", Limits)


def is_admin(caller: Principal) -> bool:
    return caller.has_role(ADMIN_ROLE)


def organisation_of(caller: Principal) -> uuid.UUID | None:
    """The caller's organisation (the token's `org` claim); a claim that is no UUID names none."""
    if caller.organisation_id is None:
        return None
    try:
        return uuid.UUID(caller.organisation_id)
    except ValueError:
        return None


def viewer_of(caller: Principal) -> Viewer:
    """Admins see the whole catalog; others only active products of their organisation's assortment."""
    return Viewer(caller.tenant_id, organisation_of(caller), sees_everything=is_admin(caller))


async def pricing_viewer(request: web.Request) -> Viewer:
    """The caller as `viewer_of` says, with the seller discount her prices carry (a seller's)."""
    caller = principal(request)
    discount = await settings_api.seller_discount(request.app[POOL], caller)
    return replace(viewer_of(caller), seller_discount_bp=discount)


class TenantOwned(Protocol):
    @property
    def tenant_id(self) -> str: ...


def owned_by_tenant(
    param: str, find: Callable[[asyncpg.Pool, str, uuid.UUID], Awaitable[TenantOwned | None]]
) -> OwnerLookup:
    """The owner lookup of a resource that belongs to its tenant as a whole, named by the UUID path
    parameter `param` and found with `find(pool, tenant_id, id)`."""

    async def lookup(request: web.Request, caller: Principal) -> Owner | None:
        resource_id = path_uuid(request, param)
        if resource_id is None:
            return None
        found = await find(request.app[POOL], caller.tenant_id, resource_id)
        return Owner(tenant_id=found.tenant_id, resource=found) if found else None

    return lookup


brand_owner = owned_by_tenant("brand_id", store.find_brand)
price_list_owner = owned_by_tenant("price_list_id", pricing_store.find_price_list)


def the_brand(request: web.Request) -> store.Brand:
    """The brand the route's owner lookup loaded."""
    return owned(request, store.Brand)
