"""Catalog's HTTP API for who pays what: customer groups, organisations' terms (group, assortment,
entitlements) and price lists. Admins write them; an organisation's users read its own terms."""

from __future__ import annotations

import uuid
from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel

from libs.common import idempotency
from libs.common.api import Endpoint, Owner, owned, path_uuid
from libs.common.auth import Principal, principal
from libs.common.http import json_response, read_json, read_query
from libs.common.runtime import POOL
from services.catalog import commands, pricing_store
from services.catalog.access import (
    ADMIN,
    OWN_ORGANISATION,
    organisation_of,
    owned_by_tenant,
    price_list_owner,
)
from services.catalog.domain import GroupDetails, OrganisationTerms, PriceList, PriceListDetails, TermsDetails
from services.catalog.schemas import PriceListView

# --- customer groups ---


class GroupView(BaseModel):
    id: uuid.UUID = Field(description="The group's id")
    name: str = Field(description="The group's name")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, group: pricing_store.Group) -> GroupView:
        return cls(id=group.id, name=group.name, created_at=group.created_at, updated_at=group.updated_at)


class GroupList(RootModel[list[GroupView]]):
    """The tenant's customer groups by name."""


group_owner = owned_by_tenant("group_id", pricing_store.find_group)


def _group(request: web.Request) -> pricing_store.Group:
    return owned(request, pricing_store.Group)


async def create_group(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, GroupDetails)

    conn = await idempotency.once(request, body)
    group = await commands.create_group(conn, caller.tenant_id, body)
    return json_response(GroupView.of(group), status=201)


async def rename_group(request: web.Request) -> web.Response:
    group = _group(request)
    body = await read_json(request, GroupDetails)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        renamed = await commands.rename_group(conn, group.tenant_id, group.id, body)
    return json_response(GroupView.of(renamed))


async def delete_group(request: web.Request) -> web.Response:
    group = _group(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await commands.delete_group(conn, group.tenant_id, group.id)
    return web.Response(status=204)


async def list_groups(request: web.Request) -> web.Response:
    groups = await pricing_store.list_groups(request.app[POOL], principal(request).tenant_id)
    return json_response(GroupList([GroupView.of(group) for group in groups]))


async def get_group(request: web.Request) -> web.Response:
    return json_response(GroupView.of(_group(request)))


# --- organisation terms ---


class TermsView(BaseModel):
    organisation_id: uuid.UUID = Field(description="The organisation (identity's id)")
    group_id: uuid.UUID | None = Field(description="Its customer group, or null")
    assortment: list[uuid.UUID] | None = Field(description="The only products it sees; null = all")
    entitlements: list[str] = Field(description="Its contract entitlements, e.g. 'ecommerce'")
    version: int = Field(description="0 while it has no terms, then +1 on each change")

    @classmethod
    def of(cls, terms: OrganisationTerms) -> TermsView:
        return cls.model_validate(terms.model_dump())


async def organisation_owner(request: web.Request, caller: Principal) -> Owner | None:
    """The organisation named in the path, if it is one of the caller's tenant: identity announced
    it in this tenant, or signed the caller's token naming it as theirs (a member may read her
    terms before the announcement arrives). Otherwise 404 `unknown-organisation`, whether it is
    another tenant's or nobody's. The guard then lets admins reach every organisation of their
    tenant and others only their own."""
    organisation_id = path_uuid(request, "organisation_id")
    if organisation_id is None:
        return None
    if organisation_of(caller) != organisation_id and not await pricing_store.organisation_known(
        request.app[POOL], caller.tenant_id, organisation_id
    ):
        raise commands.unknown_organisation(organisation_id)
    return Owner(tenant_id=caller.tenant_id, organisation_id=str(organisation_id), resource=organisation_id)


def _organisation(request: web.Request) -> uuid.UUID:
    return owned(request, uuid.UUID)


async def get_terms(request: web.Request) -> web.Response:
    terms = await pricing_store.find_terms(
        request.app[POOL], principal(request).tenant_id, _organisation(request)
    )
    return json_response(TermsView.of(terms))


async def replace_terms(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, TermsDetails)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        terms = await commands.replace_terms(conn, caller.tenant_id, _organisation(request), body)
    return json_response(TermsView.of(terms))


# --- price lists ---


class PriceListSummaryView(BaseModel):
    id: uuid.UUID
    name: str
    scope: str
    brand_id: uuid.UUID
    group_id: uuid.UUID | None
    organisation_id: uuid.UUID | None
    currency: str
    valid_from: datetime | None
    valid_until: datetime | None
    active: bool
    version: int
    size: int = Field(description="How many products the list prices")


class PriceListList(RootModel[list[PriceListSummaryView]]):
    """The tenant's price lists, oldest first, without their prices."""


class PriceListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brand_id: uuid.UUID | None = Field(None, description="Only this brand's lists")
    active: bool | None = Field(None, description="true: in force or to come; false: withdrawn")


def _price_list(request: web.Request) -> PriceList:
    return owned(request, PriceList)


async def create_price_list(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, PriceListDetails)

    conn = await idempotency.once(request, body)
    price_list = await commands.create_price_list(conn, caller.tenant_id, body)
    return json_response(PriceListView.of(price_list), status=201)


async def replace_price_list(request: web.Request) -> web.Response:
    found = _price_list(request)
    body = await read_json(request, PriceListDetails)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        price_list = await commands.replace_price_list(conn, found.tenant_id, found.id, body)
    return json_response(PriceListView.of(price_list))


async def withdraw_price_list(request: web.Request) -> web.Response:
    found = _price_list(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        price_list = await commands.withdraw_price_list(conn, found.tenant_id, found.id)
    return json_response(PriceListView.of(price_list))


async def get_price_list(request: web.Request) -> web.Response:
    return json_response(PriceListView.of(_price_list(request)))


async def list_price_lists(request: web.Request) -> web.Response:
    query = read_query(request, PriceListQuery)
    found = await pricing_store.list_price_lists(
        request.app[POOL], principal(request).tenant_id, brand_id=query.brand_id, active=query.active
    )
    return json_response(
        PriceListList(
            [
                PriceListSummaryView.model_validate(
                    {**summary.price_list.model_dump(exclude={"prices"}), "size": summary.size}
                )
                for summary in found
            ]
        )
    )


ENDPOINTS = [
    Endpoint(
        "POST",
        "/customer-groups",
        create_group,
        "Add a customer group",
        roles=ADMIN,
        body=GroupDetails,
        response=GroupView,
        status=201,
        idempotent=True,
        problems={409: "The name is taken"},
    ),
    Endpoint("GET", "/customer-groups", list_groups, "The customer groups", roles=ADMIN, response=GroupList),
    Endpoint(
        "GET",
        "/customer-groups/{group_id}",
        get_group,
        "A customer group",
        roles=ADMIN,
        response=GroupView,
        owner=group_owner,
    ),
    Endpoint(
        "PUT",
        "/customer-groups/{group_id}",
        rename_group,
        "Rename a customer group",
        roles=ADMIN,
        body=GroupDetails,
        response=GroupView,
        owner=group_owner,
        problems={409: "The name is taken"},
    ),
    Endpoint(
        "DELETE",
        "/customer-groups/{group_id}",
        delete_group,
        "Delete a customer group no organisation or price list names",
        roles=ADMIN,
        status=204,
        owner=group_owner,
        problems={409: "The group is in use"},
    ),
    Endpoint(
        "GET",
        "/organisations/{organisation_id}/terms",
        get_terms,
        "An organisation's group, assortment and entitlements (admins: any; others: their own)",
        roles=OWN_ORGANISATION,
        response=TermsView,
        owner=organisation_owner,
    ),
    Endpoint(
        "PUT",
        "/organisations/{organisation_id}/terms",
        replace_terms,
        "Replace an organisation's terms: group, assortment (null = all products), entitlements"
        " (404 unknown-organisation unless identity announced it in the caller's tenant)",
        roles=ADMIN,
        body=TermsDetails,
        response=TermsView,
        owner=organisation_owner,
    ),
    Endpoint(
        "POST",
        "/price-lists",
        create_price_list,
        "Create a price list for a brand, a customer group or an organisation (at most 5,000 prices;"
        " 404 unknown-organisation for an organisation identity has not announced in the tenant)",
        roles=ADMIN,
        body=PriceListDetails,
        response=PriceListView,
        status=201,
        idempotent=True,
    ),
    Endpoint(
        "GET",
        "/price-lists",
        list_price_lists,
        "The tenant's price lists, without their prices",
        roles=ADMIN,
        query=PriceListQuery,
        response=PriceListList,
    ),
    Endpoint(
        "GET",
        "/price-lists/{price_list_id}",
        get_price_list,
        "A price list with its prices",
        roles=ADMIN,
        response=PriceListView,
        owner=price_list_owner,
    ),
    Endpoint(
        "PUT",
        "/price-lists/{price_list_id}",
        replace_price_list,
        "Replace a price list's whole state, prices included (409 once withdrawn)",
        roles=ADMIN,
        body=PriceListDetails,
        response=PriceListView,
        owner=price_list_owner,
        problems={409: "The price list was withdrawn"},
    ),
    Endpoint(
        "POST",
        "/price-lists/{price_list_id}/withdraw",
        withdraw_price_list,
        "Withdraw a price list for good: it applies no more",
        roles=ADMIN,
        response=PriceListView,
        owner=price_list_owner,
    ),
]
