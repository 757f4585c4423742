"""Opening accounts in their four ways: self-registration, invitation by an admin or validator, customers
registered by a shop, and sellers recruited into a consultant's team (and listing that team)."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from libs.common import idempotency
from libs.common.api import PUBLIC, SELF, Endpoint, grant, roles
from libs.common.auth import principal
from libs.common.errors import Invalid, fields_renamed
from libs.common.http import json_response, read_json
from libs.common.runtime import POOL
from services.identity import commands, store
from services.identity.domain import ADMIN, CUSTOMER, PARTNER, SELLER, SHOP, NewAccount, display_name_of
from services.identity.limits import limit
from services.identity.routes.common import ADMIN_ONLY, POLICY, caller_account
from services.identity.schemas import (
    AccountCreated,
    InviteAccount,
    PersonDetails,
    RegisterAccount,
    RegisterCustomer,
    RegisterTeamSeller,
    TeamList,
    TeamMember,
)

TEAM_DEPTH = 20  # how deep a downline listing goes (a guard: real sponsor trees are shallower)


def _new_account(
    tenant_id: str, person: PersonDetails, roles: list[str], organisation_id: uuid.UUID | None, **extra: Any
) -> NewAccount:
    display_name = display_name_of(person.display_name, person.first_name, person.last_name)
    if display_name is None:
        raise Invalid.field("display_name", "give a display_name, or a first_name and a last_name", "missing")
    return NewAccount(
        tenant_id=tenant_id,
        email=person.email,
        display_name=display_name,
        locale=person.locale,
        roles=roles,
        organisation_id=organisation_id,
        first_name=person.first_name,
        last_name=person.last_name,
        birth_date=person.birth_date,
        phone=person.phone,
        address=person.address.model_dump() if person.address else None,
        passport=person.passport,
        **extra,
    )


async def register_account(request: web.Request) -> web.Response:
    limit(request, "registration")
    body = await read_json(request, RegisterAccount)
    pool, policy = request.app[POOL], request.app[POLICY]
    settings = await commands.settings_of(pool, body.tenant_id)
    password_hash = None
    if body.password is not None:
        password_hash = await commands.hash_chosen_password(settings, body.password)
    # The caller is anonymous: the key is unique per tenant and route.
    conn = await idempotency.once(request, body, exclude={"password"}, caller=body.tenant_id)
    organisation_id = await commands.membership_organisation(
        conn, body.tenant_id, body.organisation_id, body.customer_code
    )
    new = _new_account(body.tenant_id, body, [PARTNER], organisation_id)
    account = await commands.open_account(
        conn, policy, new, password_hash=password_hash, activation=body.delivery
    )
    created = AccountCreated.of(account)
    return json_response(created, status=201)


async def invite_account(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, InviteAccount)
    pool, policy = request.app[POOL], request.app[POLICY]
    settings = await commands.settings_of(pool, caller.tenant_id)
    password_hash = None
    if body.initial_password is not None:
        with fields_renamed({"password": "initial_password"}):
            password_hash = await commands.hash_chosen_password(settings, body.initial_password)
    conn = await idempotency.once(request, body, exclude={"initial_password"})
    organisation_id = await commands.membership_organisation(conn, caller.tenant_id, body.organisation_id)
    new = _new_account(
        caller.tenant_id,
        body,
        list(body.roles),
        organisation_id,
        card_number=body.card_number,
        password_change_required=password_hash is not None and settings.password_change_at_first_login,
    )
    account = await commands.open_account(
        conn,
        policy,
        new,
        password_hash=password_hash,
        activation=None if password_hash is not None else body.delivery,
    )
    created = AccountCreated.of(account)
    return json_response(created, status=201)


async def register_team_seller(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, RegisterTeamSeller)
    sponsor = await caller_account(request)
    conn = await idempotency.once(request, body)
    new = _new_account(caller.tenant_id, body, [SELLER], None, sponsor_id=sponsor.account_id)
    account = await commands.open_account(
        conn, request.app[POLICY], new, password_hash=None, activation=body.delivery
    )
    created = AccountCreated.of(account)
    return json_response(created, status=201)


async def list_team(request: web.Request) -> web.Response:
    sponsor = await caller_account(request)
    members = await store.team(request.app[POOL], sponsor.account_id, TEAM_DEPTH)
    return json_response(
        TeamList(
            [TeamMember.model_validate(account.model_dump() | {"depth": depth}) for depth, account in members]
        )
    )


async def register_customer(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, RegisterCustomer)
    conn = await idempotency.once(request, body)
    shop_id = await commands.registering_shop(conn, caller, body.shop_id)
    new = _new_account(
        caller.tenant_id,
        body,
        [CUSTOMER],
        None,
        card_number=body.card_number,
        professional=body.professional,
        home_shop_id=shop_id,
    )
    account = await commands.open_account(
        conn,
        request.app[POLICY],
        new,
        password_hash=None,
        activation=body.delivery,
        generate_card=body.card_number is None,
    )
    created = AccountCreated.of(account)
    return json_response(created, status=201)


ENDPOINTS = [
    Endpoint(
        "POST",
        "/accounts",
        register_account,
        "A partner registers herself (with her organisation's customer code); an activation is sent",
        roles=PUBLIC,
        body=RegisterAccount,
        response=AccountCreated,
        status=201,
        idempotent=True,
        problems={409: "The email, phone, card or registration number is taken"},
    ),
    Endpoint(
        "POST",
        "/accounts/invitations",
        invite_account,
        "An admin creates an account: an activation is sent, or it is active with a password given in person",
        roles=ADMIN_ONLY,
        body=InviteAccount,
        response=AccountCreated,
        status=201,
        idempotent=True,
        problems={409: "The email, phone, card or registration number is taken"},
    ),
    Endpoint(
        "POST",
        "/accounts/customers",
        register_customer,
        "An admin or a shop registers a customer, with her card number or a generated one",
        roles=roles(ADMIN, SHOP),
        body=RegisterCustomer,
        response=AccountCreated,
        status=201,
        idempotent=True,
        problems={409: "The email, phone, card or registration number is taken"},
    ),
    Endpoint(
        "POST",
        "/accounts/me/team",
        register_team_seller,
        "A seller registers a new seller into her team; an activation is sent (SMS by default)",
        roles=grant(seller=SELF),
        body=RegisterTeamSeller,
        response=AccountCreated,
        status=201,
        idempotent=True,
        problems={
            404: "The caller's account no longer exists",
            409: "The email, phone, card or registration number is taken",
        },
    ),
    Endpoint(
        "GET",
        "/accounts/me/team",
        list_team,
        "The caller's downline: her recruits, theirs, and so on",
        roles=grant(seller=SELF),
        response=TeamList,
        problems={404: "The caller's account no longer exists"},
    ),
]
