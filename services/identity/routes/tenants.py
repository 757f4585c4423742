"""Tenants and their settings: creating one (with the platform's key), reading and replacing its settings."""

from __future__ import annotations

from aiohttp import web

from libs.common import idempotency
from libs.common.api import PUBLIC, Endpoint
from libs.common.auth import principal
from libs.common.errors import FieldError, Invalid, NotFound, fields_renamed
from libs.common.http import json_response, read_json
from libs.common.runtime import POOL
from services.identity import commands, store
from services.identity.domain import ADMIN, NewAccount, TenantSettings
from services.identity.routes.common import ADMIN_ONLY, POLICY, check_platform_key
from services.identity.schemas import CreateTenant, TenantCreated, TenantPublicView, TenantSettingsBody


async def create_tenant(request: web.Request) -> web.Response:
    check_platform_key(request, "creating a tenant")
    body = await read_json(request, CreateTenant)
    # The tenant has no settings yet: its first admin's password meets the default policy.
    with fields_renamed({"password": "admin.password"}):
        password_hash = await commands.hash_chosen_password(TenantSettings(), body.admin.password)
    admin = NewAccount(
        tenant_id=body.tenant_id,
        email=body.admin.email,
        display_name=body.admin.display_name,
        locale=body.admin.locale,
        roles=[ADMIN],
    )
    conn = await idempotency.once(request, body, exclude={"admin": {"password"}}, caller="platform")
    account = await commands.create_tenant(
        conn, request.app[POLICY], body.tenant_id, body.name, body.time_zone, admin, password_hash
    )
    created = TenantCreated(tenant_id=body.tenant_id, admin_account_id=account.account_id)
    return json_response(created, status=201)


async def get_tenant_public(request: web.Request) -> web.Response:
    found = await store.tenant_public(request.app[POOL], request.match_info["tenant_id"])
    if found is None:
        raise NotFound("not-found", "Not Found", "no such tenant")
    return json_response(TenantPublicView.model_validate(found))


async def get_tenant_settings(request: web.Request) -> web.Response:
    settings = await commands.settings_of(request.app[POOL], principal(request).tenant_id)
    return json_response(settings)


async def replace_tenant_settings(request: web.Request) -> web.Response:
    body = await read_json(request, TenantSettingsBody)
    missing = [name for name in TenantSettings.model_fields if name not in body.model_fields_set]
    if missing:
        raise Invalid(
            [FieldError(name, "PUT replaces every setting: give it", "missing") for name in missing]
        )
    settings = TenantSettings.model_validate(body.model_dump())
    async with request.app[POOL].acquire() as conn, conn.transaction():
        stored = await commands.replace_tenant_settings(
            conn, principal(request).tenant_id, settings, request.app[POLICY].clock()
        )
    return json_response(stored)


ENDPOINTS = [
    Endpoint(
        "POST",
        "/tenants",
        create_tenant,
        "Create a tenant and its first admin (needs the X-Platform-Key header)",
        roles=PUBLIC,
        body=CreateTenant,
        response=TenantCreated,
        status=201,
        idempotent=True,
        problems={403: "X-Platform-Key missing or wrong", 409: "A tenant of this id exists"},
    ),
    Endpoint(
        "GET",
        "/tenants/{tenant_id}",
        get_tenant_public,
        "What anyone may know of a tenant to sign in to it: its name, time zone, logins and password rules",
        roles=PUBLIC,
        response=TenantPublicView,
        problems={404: "No such tenant"},
    ),
    Endpoint(
        "GET",
        "/tenant/settings",
        get_tenant_settings,
        "The caller's tenant's settings: password policy, logins, lockout, inactivity, time zone",
        roles=ADMIN_ONLY,
        response=TenantSettings,
    ),
    Endpoint(
        "PUT",
        "/tenant/settings",
        replace_tenant_settings,
        "Replace the caller's tenant's settings (every field must be given); announces its time zone",
        roles=ADMIN_ONLY,
        body=TenantSettingsBody,
        response=TenantSettings,
    ),
]
