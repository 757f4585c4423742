"""Accounts as admins and validators see them: listing, reading, changing roles or organisation, deleting."""

from __future__ import annotations

import uuid

from aiohttp import web

from libs.common.api import ANY_ROLE, ORGANISATION, SELF, TENANT, Endpoint, Grant, owned, scope
from libs.common.errors import Invalid
from libs.common.http import json_response, read_json, read_query
from libs.common.runtime import POOL
from services.identity import commands, store
from services.identity.domain import ADMIN, VALIDATOR, Account
from services.identity.routes.common import ADMIN_ONLY, ADMIN_OR_VALIDATOR, POLICY, account_owner, as_uuid
from services.identity.schemas import AccountList, AccountQuery, AccountView, ChangeMembership


async def list_accounts(request: web.Request) -> web.Response:
    query = read_query(request, AccountQuery)
    seen = scope(request)
    if seen.organisation_id is not None and query.organisation_id not in (
        None,
        uuid.UUID(seen.organisation_id),
    ):
        return json_response(AccountList([]))
    found = await store.accounts(
        request.app[POOL],
        seen.tenant_id,
        organisation_id=as_uuid(seen.organisation_id) or query.organisation_id,
        account_id=as_uuid(seen.account_id),
        role=query.role,
        status=query.status,
        sponsor_id=query.sponsor_id,
        text=query.q,
        limit=query.limit,
        offset=query.offset,
    )
    return json_response(AccountList([AccountView.of(a) for a in found]))


async def get_account(request: web.Request) -> web.Response:
    return json_response(AccountView.of(owned(request, Account)))


async def change_account_membership(request: web.Request) -> web.Response:
    body = await read_json(request, ChangeMembership)
    if "roles" in body.model_fields_set and body.roles is None:
        raise Invalid.field("roles", "cannot be removed: give at least one role", "missing")
    account = owned(request, Account)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        updated = await commands.change_membership(
            conn,
            request.app[POLICY],
            account,
            body.roles,
            body.organisation_id,
            organisation_given="organisation_id" in body.model_fields_set,
            professional=body.professional,
        )
    return json_response(AccountView.of(updated))


async def delete_account(request: web.Request) -> web.Response:
    account = owned(request, Account)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await commands.close_account(conn, request.app[POLICY], account.account_id)
    return web.Response(status=204)


# Everyone reads her own account; a validator those of her organisation; an admin any of the tenant's.
SELF_VALIDATOR_OR_ADMIN = Grant({ANY_ROLE: SELF, VALIDATOR: ORGANISATION, ADMIN: TENANT})


ENDPOINTS = [
    Endpoint(
        "GET",
        "/accounts",
        list_accounts,
        "Accounts of the tenant (a validator sees her organisation's)",
        roles=ADMIN_OR_VALIDATOR,
        query=AccountQuery,
        response=AccountList,
    ),
    Endpoint(
        "GET",
        "/accounts/{account_id}",
        get_account,
        "An account (one's own; a validator's organisation's; any for an admin)",
        roles=SELF_VALIDATOR_OR_ADMIN,
        response=AccountView,
        owner=account_owner,
    ),
    Endpoint(
        "PATCH",
        "/accounts/{account_id}",
        change_account_membership,
        "Change an account's roles, organisation or professional flag",
        roles=ADMIN_ONLY,
        body=ChangeMembership,
        response=AccountView,
        owner=account_owner,
        problems={409: "It would leave the tenant without an admin"},
    ),
    Endpoint(
        "DELETE",
        "/accounts/{account_id}",
        delete_account,
        "Delete an account and erase its personal data",
        roles=ADMIN_ONLY,
        status=204,
        owner=account_owner,
        problems={409: "It would leave the tenant without an admin"},
    ),
]
