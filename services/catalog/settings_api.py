"""The tenant's catalog settings (its admin's): the seller discount, published for ordering."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from libs.common import outbox
from libs.common.api import TENANT, Endpoint, grant, roles
from libs.common.auth import Principal, principal
from libs.common.clock import now
from libs.common.http import json_response, read_json
from libs.common.runtime import POOL
from services.catalog.events import SERVICE, SettingsChanged

_SETTINGS = "SELECT seller_discount_bp, version, changed_at FROM catalog_settings WHERE tenant_id = $1"
_PUT = """
INSERT INTO catalog_settings (tenant_id, seller_discount_bp, version, changed_at) VALUES ($1, $2, 1, $3)
ON CONFLICT (tenant_id) DO UPDATE
SET seller_discount_bp = EXCLUDED.seller_discount_bp, version = catalog_settings.version + 1,
    changed_at = EXCLUDED.changed_at
RETURNING seller_discount_bp, version, changed_at
"""


class CatalogSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seller_discount_bp: int = Field(
        0,
        ge=0,
        le=10_000,
        description="What a seller's own orders are discounted, in basis points (2000 = 20 %); 0: none",
    )


class SettingsView(CatalogSettings):
    version: int = Field(description="1, 2, … as they change; 0: never set")
    changed_at: datetime | None = Field(description="When they were last set (UTC)")


async def seller_discount(db: asyncpg.Pool | asyncpg.Connection, caller: Principal) -> int:
    """The discount the caller's own purchases get: the tenant's seller discount for a seller, else 0."""
    if not caller.has_role("seller"):
        return 0
    row = await db.fetchrow(_SETTINGS, caller.tenant_id)
    return int(row["seller_discount_bp"]) if row else 0


async def get_settings(request: web.Request) -> web.Response:
    row = await request.app[POOL].fetchrow(_SETTINGS, principal(request).tenant_id)
    if row is None:
        return json_response(SettingsView(version=0, changed_at=None))
    return json_response(SettingsView(**dict(row)))


async def put_settings(request: web.Request) -> web.Response:
    tenant_id = principal(request).tenant_id
    body = await read_json(request, CatalogSettings)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        row = await conn.fetchrow(_PUT, tenant_id, body.seller_discount_bp, now(request))
        event = SettingsChanged(**dict(row))
        await outbox.publish(conn, SERVICE, event, subject=tenant_id, tenant_id=tenant_id)
    return json_response(SettingsView(**dict(row)))


ENDPOINTS = [
    Endpoint(
        "GET",
        "/settings",
        get_settings,
        "The tenant's catalog settings (the seller discount)",
        roles=roles("admin", "seller"),
        response=SettingsView,
    ),
    Endpoint(
        "PUT",
        "/settings",
        put_settings,
        "Replace the tenant's catalog settings; published on catalog.settings.v1",
        roles=grant(admin=TENANT),
        body=CatalogSettings,
        response=SettingsView,
    ),
]
