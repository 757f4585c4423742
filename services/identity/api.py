"""Identity's HTTP API: tenants, organisations, registration, activation, sessions, the key set."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints

from libs.common import idempotency
from libs.common.api import AUTHENTICATED, PUBLIC, VERIFIER, Endpoint, roles
from libs.common.auth import TokenVerifier, principal
from libs.common.http import Problem, json_response, read_json
from libs.common.runtime import POOL
from services.identity import commands, passwords, signing, store
from services.identity.commands import Policy
from services.identity.domain import (
    ADMIN,
    EMAIL_PATTERN,
    MAX_PASSWORD,
    MIN_PASSWORD,
    PARTNER,
    TENANT_ID_PATTERN,
    AccountStatus,
    NewAccount,
    Organisation,
)
from services.identity.events import Locale

POLICY = web.AppKey("identity_policy", Policy)
PLATFORM_KEY_HEADER = "X-Platform-Key"

TenantId = Annotated[str, StringConstraints(pattern=TENANT_ID_PATTERN)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL_PATTERN)]
Password = Annotated[str, StringConstraints(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def setup(app: web.Application, policy: Policy) -> None:
    """Give the API its policy, and verify tokens with identity's own keys rather than over HTTP."""
    app[POLICY] = policy

    async def own_public_keys() -> Mapping[str, Any]:
        return {key.kid: key.public_key for key in await signing.all_keys(app[POOL])}

    app[VERIFIER] = TokenVerifier(own_public_keys)


# --- request and response bodies ---


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdminAccount(_Body):
    email: Email = Field(description="The admin's email, also their login")
    password: Password = Field(description=f"{MIN_PASSWORD} to {MAX_PASSWORD} characters")
    display_name: Name = Field(description="How to greet the admin")
    locale: Locale = Field("fr", description="Language to write to the admin in: fr, en or ru")


class CreateTenant(_Body):
    """A new tenant (a brand) and its first admin, who is active at once."""

    tenant_id: TenantId = Field(description="The tenant's slug: 2 to 40 of a-z, 0-9 and '-'")
    name: Name = Field(description="The tenant's display name")
    admin: AdminAccount = Field(description="The tenant's first account, with the admin role")


class TenantCreated(BaseModel):
    tenant_id: str = Field(description="The new tenant")
    admin_account_id: uuid.UUID = Field(description="Its first admin's account id")


class CreateOrganisation(_Body):
    name: Name = Field(description="The organisation's name, e.g. a pharmacy")
    customer_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] = (
        Field(description="The tenant's reference for this customer; unique in the tenant")
    )


class OrganisationView(BaseModel):
    organisation_id: uuid.UUID = Field(description="The organisation's id")
    name: str = Field(description="The organisation's name")
    customer_code: str = Field(description="The tenant's reference for this customer")

    @classmethod
    def of(cls, organisation: Organisation) -> OrganisationView:
        return cls.model_validate(organisation.model_dump(include=set(cls.model_fields)))


class OrganisationList(RootModel[list[OrganisationView]]):
    """The tenant's organisations, by name."""


class RegisterAccount(_Body):
    """A partner asks for an account; it stays pending until the link of the activation email is followed."""

    tenant_id: TenantId = Field(description="The tenant (brand) to register with")
    email: Email = Field(description="The login, unique in the tenant whatever its case")
    password: Password = Field(description=f"{MIN_PASSWORD} to {MAX_PASSWORD} characters")
    display_name: Name = Field(description="How to greet the person")
    locale: Locale = Field("fr", description="Language to write in: fr, en or ru")
    organisation_id: uuid.UUID | None = Field(None, description="An organisation of the tenant to belong to")


class AccountCreated(BaseModel):
    account_id: uuid.UUID = Field(description="The new account's id")
    status: Literal["pending"] = Field(description="pending until the activation link is followed")


class ActivateAccount(_Body):
    token: str = Field(min_length=1, max_length=200, description="The token of the activation link")


class AccountActivated(BaseModel):
    account_id: uuid.UUID = Field(description="The activated account")
    status: Literal["active"] = Field(description="Always active")


class MeView(BaseModel):
    account_id: uuid.UUID = Field(description="The caller's account id")
    tenant_id: str = Field(description="The caller's tenant")
    email: str = Field(description="The caller's email")
    display_name: str = Field(description="How the caller is greeted")
    locale: Locale = Field(description="The caller's language")
    roles: list[str] = Field(description="The caller's roles")
    organisation_id: uuid.UUID | None = Field(description="The caller's organisation, if any")
    status: AccountStatus = Field(description="pending or active")


# --- handlers ---


def _check_platform_key(request: web.Request) -> None:
    given = request.headers.get(PLATFORM_KEY_HEADER, "")
    if not hmac.compare_digest(given.encode(), request.app[POLICY].platform_key.encode()):
        raise Problem(
            403,
            "Forbidden",
            type="platform-key-required",
            detail=f"creating a tenant needs the platform's key in the {PLATFORM_KEY_HEADER} header",
        )


async def create_tenant(request: web.Request) -> web.Response:
    _check_platform_key(request)
    body = await read_json(request, CreateTenant)
    password_hash = await passwords.hash_password(body.admin.password)
    admin = NewAccount(
        tenant_id=body.tenant_id,
        email=body.admin.email,
        display_name=body.admin.display_name,
        locale=body.admin.locale,
        roles=[ADMIN],
    )
    once = idempotency.Once.of(request, "platform:create_tenant", body, exclude={"admin": {"password"}})
    async with request.app[POOL].acquire() as conn, conn.transaction():
        if replayed := await once.replay(conn):
            return replayed
        account = await commands.create_tenant(
            conn, request.app[POLICY], body.tenant_id, body.name, admin, password_hash
        )
        created = TenantCreated(tenant_id=body.tenant_id, admin_account_id=account.account_id)
        await once.remember(conn, 201, created)
    return json_response(created, status=201)


async def create_organisation(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, CreateOrganisation)
    once = idempotency.Once.of(request, f"{caller.tenant_id}:{caller.account_id}:create_organisation", body)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        if replayed := await once.replay(conn):
            return replayed
        organisation = await commands.create_organisation(
            conn, caller.tenant_id, body.name, body.customer_code
        )
        created = OrganisationView.of(organisation)
        await once.remember(conn, 201, created)
    return json_response(created, status=201)


async def list_organisations(request: web.Request) -> web.Response:
    organisations = await store.organisations(request.app[POOL], principal(request).tenant_id)
    return json_response(OrganisationList([OrganisationView.of(o) for o in organisations]))


async def register_account(request: web.Request) -> web.Response:
    body = await read_json(request, RegisterAccount)
    password_hash = await passwords.hash_password(body.password)
    new = NewAccount(
        tenant_id=body.tenant_id,
        email=body.email,
        display_name=body.display_name,
        locale=body.locale,
        roles=[PARTNER],
        organisation_id=body.organisation_id,
    )
    # The caller is anonymous: the key is unique per tenant and route.
    once = idempotency.Once.of(request, f"{body.tenant_id}:register_account", body, exclude={"password"})
    async with request.app[POOL].acquire() as conn, conn.transaction():
        if replayed := await once.replay(conn):
            return replayed
        account = await commands.register_account(conn, request.app[POLICY], new, password_hash)
        created = AccountCreated(account_id=account.account_id, status="pending")
        await once.remember(conn, 201, created)
    return json_response(created, status=201)


async def _activate(request: web.Request, token: str) -> web.Response:
    account_id = await commands.activate_account(request.app[POOL], request.app[POLICY], token)
    return json_response(AccountActivated(account_id=account_id, status="active"))


async def follow_activation_link(request: web.Request) -> web.Response:
    return await _activate(request, request.match_info["token"])


async def activate_account(request: web.Request) -> web.Response:
    body = await read_json(request, ActivateAccount)
    return await _activate(request, body.token)


async def get_me(request: web.Request) -> web.Response:
    caller = principal(request)
    try:
        account_id = uuid.UUID(caller.account_id)
    except ValueError:
        account_id = None
    account = await store.account(request.app[POOL], caller.tenant_id, account_id) if account_id else None
    if account is None:
        raise Problem(404, "No such account", type="account-not-found", detail="the account no longer exists")
    return json_response(MeView.model_validate(account.model_dump(include=set(MeView.model_fields))))


ADMIN_ONLY = roles(ADMIN)

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
    ),
    Endpoint(
        "POST",
        "/organisations",
        create_organisation,
        "Create an organisation of the caller's tenant",
        roles=ADMIN_ONLY,
        body=CreateOrganisation,
        response=OrganisationView,
        status=201,
        idempotent=True,
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
        "POST",
        "/accounts",
        register_account,
        "Register a partner account; an activation email is sent",
        roles=PUBLIC,
        body=RegisterAccount,
        response=AccountCreated,
        status=201,
        idempotent=True,
    ),
    Endpoint(
        "GET",
        "/activations/{token}",
        follow_activation_link,
        "Activate an account: the link of the activation email",
        roles=PUBLIC,
        response=AccountActivated,
    ),
    Endpoint(
        "POST",
        "/activations",
        activate_account,
        "Activate an account with the token of its activation email",
        roles=PUBLIC,
        body=ActivateAccount,
        response=AccountActivated,
    ),
    Endpoint("GET", "/me", get_me, "The caller's account", roles=AUTHENTICATED, response=MeView),
]
