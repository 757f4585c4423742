"""Organisations of a tenant: creating, listing, reading and editing them, and listing their members."""

from __future__ import annotations

from aiohttp import web

from libs.common import idempotency
from libs.common.api import ANY_ROLE, ORGANISATION, TENANT, Endpoint, Grant, Owner, owned, path_uuid
from libs.common.auth import Principal, principal
from libs.common.http import json_response, read_json, read_query
from libs.common.runtime import POOL
from services.identity import commands, store
from services.identity.domain import ADMIN, Organisation, OrganisationDetails
from services.identity.routes.common import ADMIN_ONLY, ADMIN_OR_VALIDATOR, POLICY
from services.identity.schemas import (
    AccountList,
    AccountView,
    CreateOrganisation,
    EditOrganisation,
    OrganisationList,
    OrganisationView,
    PageQuery,
)

_DETAILS = {"address", "phone", "opening_hours"}


async def organisation_owner(request: web.Request, caller: Principal) -> Owner | None:
    organisation_id = path_uuid(request, "organisation_id")
    found = await store.organisation(request.app[POOL], organisation_id) if organisation_id else None
    if found is None:
        return None
    return Owner(found.tenant_id, organisation_id=str(found.organisation_id), resource=found)


async def create_organisation(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, CreateOrganisation)
    conn = await idempotency.once(request, body)
    details = OrganisationDetails.model_validate(body.model_dump(include=_DETAILS | {"kind"}))
    organisation = await commands.create_organisation(
        conn, caller.tenant_id, body.name, body.customer_code, details
    )
    created = OrganisationView.of(organisation)
    return json_response(created, status=201)


async def list_organisations(request: web.Request) -> web.Response:
    organisations = await store.organisations(request.app[POOL], principal(request).tenant_id)
    return json_response(OrganisationList([OrganisationView.of(o) for o in organisations]))


async def get_organisation(request: web.Request) -> web.Response:
    return json_response(OrganisationView.of(owned(request, Organisation)))


async def edit_organisation(request: web.Request) -> web.Response:
    body = await read_json(request, EditOrganisation)
    found = owned(request, Organisation)
    # Fields left out keep their value; a detail given as null is removed (a name or code cannot be).
    changes = body.model_dump(include=_DETAILS & body.model_fields_set) | body.model_dump(
        include={"name", "customer_code"}, exclude_none=True
    )
    async with request.app[POOL].acquire() as conn, conn.transaction():
        updated = await commands.update_organisation(
            conn, request.app[POLICY], found.organisation_id, changes
        )
    return json_response(OrganisationView.of(updated))


async def list_members(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    found = owned(request, Organisation)
    members = await store.accounts(
        request.app[POOL],
        found.tenant_id,
        organisation_id=found.organisation_id,
        limit=query.limit,
        offset=query.offset,
    )
    return json_response(AccountList([AccountView.of(m) for m in members]))


# Every member reads her own organisation; an admin reads any of the tenant's.
MEMBER_OR_ADMIN = Grant({ANY_ROLE: ORGANISATION, ADMIN: TENANT})


ENDPOINTS = [
    Endpoint(
        "POST",
        "/organisations",
        create_organisation,
        "Create an organisation of the caller's tenant: a partner's, or a shop",
        roles=ADMIN_ONLY,
        body=CreateOrganisation,
        response=OrganisationView,
        status=201,
        idempotent=True,
        problems={409: "The customer code is taken"},
    ),
    Endpoint(
        "GET",
        "/organisations",
        list_organisations,
        "The organisations of the caller's tenant",
        roles=ADMIN_ONLY,
        response=OrganisationList,
    ),
    Endpoint(
        "GET",
        "/organisations/{organisation_id}",
        get_organisation,
        "An organisation (its members read their own)",
        roles=MEMBER_OR_ADMIN,
        response=OrganisationView,
        owner=organisation_owner,
    ),
    Endpoint(
        "PATCH",
        "/organisations/{organisation_id}",
        edit_organisation,
        "Rename an organisation, change its customer code or its details (address, phone, hours)",
        roles=ADMIN_ONLY,
        body=EditOrganisation,
        response=OrganisationView,
        owner=organisation_owner,
        problems={409: "The customer code is taken"},
    ),
    Endpoint(
        "GET",
        "/organisations/{organisation_id}/members",
        list_members,
        "The accounts of an organisation (its validators see their own)",
        roles=ADMIN_OR_VALIDATOR,
        query=PageQuery,
        response=AccountList,
        owner=organisation_owner,
    ),
]
