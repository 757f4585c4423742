"""Identity's HTTP API: tenants and their settings, organisations, registration in its four ways,
activation, profiles, accounts, closure; `ENDPOINTS` says who may call what."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel, StringConstraints

from libs.common import idempotency
from libs.common.api import (
    ANY_ROLE,
    AUTHENTICATED,
    ORGANISATION,
    PUBLIC,
    REVOCATIONS,
    SELF,
    TENANT,
    VERIFIER,
    Endpoint,
    Grant,
    Owner,
    exactly_one_of,
    grant,
    owner,
    path_uuid,
    roles,
    scope,
)
from libs.common.auth import Principal, TokenVerifier, principal
from libs.common.errors import FieldError, Forbidden, Invalid, NotFound, fields_renamed
from libs.common.http import json_response, read_header, read_json, read_query
from libs.common.runtime import POOL
from services.identity import commands, passwords, signing, store
from services.identity.domain import (
    ADMIN,
    CARD_NUMBER_PATTERN,
    CUSTOMER,
    EMAIL_PATTERN,
    MAX_AGE,
    MAX_PASSWORD,
    MIN_AGE,
    PARTNER,
    PASSPORT_PATTERN,
    SELLER,
    SHOP,
    TENANT_ID_PATTERN,
    VALIDATOR,
    Account,
    AccountStatus,
    Address,
    NewAccount,
    Organisation,
    Role,
    TenantSettings,
    display_name_of,
    normalise_phone,
)
from services.identity.events import Channel, Locale
from services.identity.limits import LIMITS, Limits, limit
from services.identity.policy import Delivery, Policy

POLICY = web.AppKey("identity_policy", Policy)
PLATFORM_KEY_HEADER = "X-Platform-Key"
TEAM_DEPTH = 20  # how deep a downline listing goes (a guard: real sponsor trees are shallower)

TenantId = Annotated[str, StringConstraints(pattern=TENANT_ID_PATTERN)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL_PATTERN)]
# Only the length here: what else a password needs is the tenant's policy, checked with its settings.
Password = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Phone = Annotated[str, StringConstraints(max_length=32), AfterValidator(normalise_phone)]
Passport = Annotated[str, StringConstraints(strip_whitespace=True, pattern=PASSPORT_PATTERN)]
CardNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=CARD_NUMBER_PATTERN)
]
CustomerCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Login = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]


def setup(app: web.Application, policy: Policy, rate_limits: Limits) -> None:
    """Give the API its policy and rate limits, and verify tokens with identity's own keys rather
    than over HTTP."""
    app[POLICY] = policy
    app[LIMITS] = rate_limits

    async def own_public_keys() -> Mapping[str, Any]:
        return {key.kid: key.public_key for key in await signing.all_keys(app[POOL])}

    app[VERIFIER] = TokenVerifier(own_public_keys, revocations=app[REVOCATIONS])


# --- request and response bodies ---


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdminAccount(_Body):
    email: Email = Field(description="The admin's email, also their login")
    password: Password = Field(description="Checked against the default password policy")
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


class TenantSettingsBody(TenantSettings):
    """Every setting of the tenant (PUT replaces them all: each field must be given)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CreateOrganisation(_Body):
    name: Name = Field(description="The organisation's name, e.g. a pharmacy")
    customer_code: CustomerCode = Field(
        description="The tenant's reference for this customer; unique in the tenant"
    )


class EditOrganisation(_Body):
    name: Name | None = Field(None, description="A new name")
    customer_code: CustomerCode | None = Field(None, description="A new customer code, unique in the tenant")


class OrganisationView(BaseModel):
    organisation_id: uuid.UUID = Field(description="The organisation's id")
    name: str = Field(description="The organisation's name")
    customer_code: str = Field(description="The tenant's reference for this customer")

    @classmethod
    def of(cls, organisation: Organisation) -> OrganisationView:
        return cls.model_validate(organisation.model_dump(include=set(cls.model_fields)))


class OrganisationList(RootModel[list[OrganisationView]]):
    """The tenant's organisations, by name."""


class PersonDetails(_Body):
    """Who the person is and how to reach her. A display name is derived from the first
    and last name when none is given."""

    email: Email = Field(description="The login, unique in the tenant whatever its case")
    display_name: Name | None = Field(
        None, description="How to greet the person (default: first and last name)"
    )
    locale: Locale = Field("fr", description="Language to write in: fr, en or ru")
    first_name: PersonName | None = Field(None, description="First name")
    last_name: PersonName | None = Field(None, description="Last name")
    birth_date: date | None = Field(
        None, description=f"Birth date (ISO); the person is {MIN_AGE} to {MAX_AGE} years old"
    )
    address: Address | None = Field(None, description="Postal address")
    phone: Phone | None = Field(
        None, description="Mobile number, international form (E.164), e.g. +33612345678"
    )
    passport: Passport | None = Field(None, description="Passport number (optional)")


class _Activation(BaseModel):
    activation_channel: Channel = Field("email", description="Where the activation goes: email or sms")
    activation_method: Literal["link", "code"] = Field(
        "link", description="A link to follow, or a numeric code to type"
    )

    @property
    def delivery(self) -> Delivery:
        return Delivery(channel=self.activation_channel, method=self.activation_method)


class RegisterAccount(PersonDetails, _Activation):
    """A partner asks for an account; it stays pending until activated. Her organisation is named by
    its customer code (printed on its invoices) or its id. Without a password here, she chooses one
    at activation."""

    tenant_id: TenantId = Field(description="The tenant (brand) to register with")
    password: Password | None = Field(None, description="The password she chooses (tenant's policy)")
    organisation_id: uuid.UUID | None = Field(None, description="An organisation of the tenant to belong to")
    customer_code: CustomerCode | None = Field(
        None, description="Her organisation's customer code, printed on its invoices"
    )


class InviteAccount(PersonDetails, _Activation):
    """An admin creates an account. Without an initial password the person gets an activation and
    chooses her own; with one (given to her in person, never sent) it is active at once."""

    roles: list[Role] = Field(min_length=1, description="admin, shop, partner, validator, seller, customer")
    organisation_id: uuid.UUID | None = Field(None, description="The organisation she belongs to")
    card_number: CardNumber | None = Field(None, description="Her loyalty card number, if she has one")
    initial_password: Password | None = Field(
        None,
        description="A password to hand over in person; the tenant may ask her to change it at first login",
    )


class RegisterTeamSeller(PersonDetails, _Activation):
    """A seller registers a new seller into her team: every registration field but the
    passport is required; the recruit chooses her password at activation (by SMS by default)."""

    first_name: PersonName = Field(description="First name")
    last_name: PersonName = Field(description="Last name")
    birth_date: date = Field(description="Birth date (ISO)")
    address: Address = Field(description="Postal address")
    phone: Phone = Field(description="Mobile number (E.164), where the activation link is sent")
    activation_channel: Channel = Field(
        "sms", description="Where the activation goes: sms (default) or email"
    )


class RegisterCustomer(PersonDetails, _Activation):
    """An admin or a shop registers a customer at the counter, with the number of the
    card she is handed, or without: a card number is then generated. She chooses her password at
    activation."""

    card_number: CardNumber | None = Field(None, description="The card's number; generated when absent")


class AccountCreated(BaseModel):
    account_id: uuid.UUID = Field(description="The new account's id")
    status: AccountStatus = Field(description="pending until activated; active when an admin set a password")
    registration_number: str = Field(description="The account's registration number (a login identifier)")
    card_number: str | None = Field(None, description="The loyalty card number, if any (a login identifier)")

    @classmethod
    def of(cls, account: Account) -> AccountCreated:
        return cls.model_validate(account.model_dump(include=set(cls.model_fields)))


class ActivateAccount(_Body):
    token: str = Field(min_length=1, max_length=200, description="The token of the activation link")
    password: Password | None = Field(
        None, description="The password she chooses; required when the account has none yet"
    )


class ActivateWithCode(_Body):
    model_config = ConfigDict(json_schema_extra=exactly_one_of("login", "account_id"))

    tenant_id: TenantId = Field(description="The tenant of the account")
    login: Login | None = Field(None, description="Email, registration number or card number (or account_id)")
    account_id: uuid.UUID | None = Field(None, description="The account's id (or login)")
    code: str = Field(pattern=r"^[0-9]{4,10}$", description="The digits received")
    password: Password | None = Field(
        None, description="The password she chooses; required when the account has none yet"
    )


class ResendActivation(_Body):
    tenant_id: TenantId = Field(description="The tenant of the account")
    login: Login = Field(description="Email, registration number or card number")
    channel: Channel = Field("email", description="email or sms (email when the account has no phone)")
    method: Literal["link", "code"] = Field("link", description="A link to follow, or a numeric code")


class ResendAccepted(BaseModel):
    status: Literal["accepted"] = Field(
        description="Always the same answer: if an account of this login awaits activation, a new link or"
        " code is sent (at most one a minute), and earlier ones stop working"
    )


class AccountActivated(BaseModel):
    account_id: uuid.UUID = Field(description="The activated account")
    status: Literal["active"] = Field(description="Always active")


class AccountView(BaseModel):
    """An account as its owner, her validator or an admin sees it (the passport: only its owner)."""

    account_id: uuid.UUID = Field(description="The account's id")
    tenant_id: str = Field(description="Its tenant")
    email: str = Field(description="Email, also a login")
    display_name: str = Field(description="How the person is greeted")
    locale: Locale = Field(description="Language")
    roles: list[str] = Field(description="Roles")
    organisation_id: uuid.UUID | None = Field(description="Organisation, if any")
    status: AccountStatus = Field(description="pending or active")
    registration_number: str | None = Field(description="Registration number (a login identifier)")
    card_number: str | None = Field(description="Loyalty card number, if any (a login identifier)")
    first_name: str | None = Field(description="First name")
    last_name: str | None = Field(description="Last name")
    birth_date: date | None = Field(description="Birth date")
    phone: str | None = Field(description="Mobile number (E.164)")
    address: Address | None = Field(description="Postal address")
    sponsor_id: uuid.UUID | None = Field(description="The seller who registered her into her team")
    has_password: bool = Field(description="False until its owner chose a password")
    password_change_required: bool = Field(description="Must choose a new password at next login")
    locked_at: datetime | None = Field(description="Locked after failed logins since, if locked")
    created_at: datetime = Field(description="Registered at (UTC)")
    activated_at: datetime | None = Field(description="Activated at (UTC)")
    last_login_at: datetime | None = Field(description="Last login (UTC)")
    last_order_at: datetime | None = Field(description="Last order (UTC), as ordering told")

    @classmethod
    def of(cls, account: Account) -> AccountView:
        return cls.model_validate(account.model_dump() | {"has_password": account.password_hash is not None})


class MeView(AccountView):
    passport: str | None = Field(description="Passport number, if given")

    @classmethod
    def of_own(cls, account: Account) -> MeView:
        return cls.model_validate(account.model_dump() | {"has_password": account.password_hash is not None})


class AccountList(RootModel[list[AccountView]]):
    """Accounts, oldest first."""


class TeamMember(BaseModel):
    account_id: uuid.UUID = Field(description="The recruit's account id")
    display_name: str = Field(description="How she is greeted")
    registration_number: str | None = Field(description="Her registration number")
    status: AccountStatus = Field(description="pending or active")
    sponsor_id: uuid.UUID | None = Field(description="Who recruited her (the caller at depth 1)")
    depth: int = Field(description="1: recruited by the caller; 2: by one of her recruits…")
    created_at: datetime = Field(description="Registered at (UTC)")
    last_order_at: datetime | None = Field(description="Her last order (UTC), if any")


class TeamList(RootModel[list[TeamMember]]):
    """The caller's downline, nearest first."""


class AccountQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = Field(None, description="Only accounts with this role")
    status: AccountStatus | None = Field(None, description="Only pending or only active accounts")
    organisation_id: uuid.UUID | None = Field(None, description="Only members of this organisation")
    sponsor_id: uuid.UUID | None = Field(None, description="Only recruits of this seller")
    q: str | None = Field(
        None, min_length=1, max_length=100, description="Part of an email, name, registration or card number"
    )
    limit: int = Field(50, ge=1, le=200, description="At most this many")
    offset: int = Field(0, ge=0, le=100_000, description="Skip this many")


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=200, description="At most this many")
    offset: int = Field(0, ge=0, le=100_000, description="Skip this many")


class EditProfile(_Body):
    """The owner's changes to her details: a field left out stays; null removes an optional one."""

    email: Email | None = Field(None, description="New email (also the login)")
    display_name: Name | None = Field(None, description="How to greet her")
    locale: Locale | None = Field(None, description="Language: fr, en or ru")
    first_name: PersonName | None = Field(None, description="First name")
    last_name: PersonName | None = Field(None, description="Last name")
    birth_date: date | None = Field(None, description="Birth date (ISO)")
    address: Address | None = Field(None, description="Postal address")
    phone: Phone | None = Field(None, description="Mobile number (E.164)")
    passport: Passport | None = Field(None, description="Passport number")


_REQUIRED_IN_PROFILE = ("email", "display_name", "locale")


class ChangeMembership(_Body):
    """An admin changes an account's roles and/or organisation (null: no organisation)."""

    roles: list[Role] | None = Field(None, min_length=1, description="The account's roles from now on")
    organisation_id: uuid.UUID | None = Field(None, description="Its organisation from now on; null for none")


class CloseAccount(_Body):
    password: Password = Field(description="The account's password, to confirm")


# --- shared steps ---


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


def _as_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


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


async def _caller_account(request: web.Request) -> Account:
    caller = principal(request)
    account_id = _as_uuid(caller.account_id)
    account = await store.account(request.app[POOL], caller.tenant_id, account_id) if account_id else None
    if account is None:
        raise NotFound("account-not-found", "No such account", "the account no longer exists")
    return account


# --- owner lookups ---


async def organisation_owner(request: web.Request, caller: Principal) -> Owner | None:
    organisation_id = path_uuid(request, "organisation_id")
    found = await store.organisation(request.app[POOL], organisation_id) if organisation_id else None
    if found is None:
        return None
    return Owner(found.tenant_id, organisation_id=str(found.organisation_id), resource=found)


async def account_owner(request: web.Request, caller: Principal) -> Owner | None:
    account_id = path_uuid(request, "account_id")
    found = await store.account_anywhere(request.app[POOL], account_id) if account_id else None
    if found is None:
        return None
    organisation_id = str(found.organisation_id) if found.organisation_id else None
    return Owner(found.tenant_id, organisation_id, str(found.account_id), resource=found)


# --- tenants and their settings ---


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
        conn, request.app[POLICY], body.tenant_id, body.name, admin, password_hash
    )
    created = TenantCreated(tenant_id=body.tenant_id, admin_account_id=account.account_id)
    return json_response(created, status=201)


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
        stored = await store.replace_tenant_settings(conn, principal(request).tenant_id, settings)
    return json_response(stored)


# --- organisations ---


async def create_organisation(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, CreateOrganisation)
    conn = await idempotency.once(request, body)
    organisation = await commands.create_organisation(conn, caller.tenant_id, body.name, body.customer_code)
    created = OrganisationView.of(organisation)
    return json_response(created, status=201)


async def list_organisations(request: web.Request) -> web.Response:
    organisations = await store.organisations(request.app[POOL], principal(request).tenant_id)
    return json_response(OrganisationList([OrganisationView.of(o) for o in organisations]))


async def get_organisation(request: web.Request) -> web.Response:
    return json_response(OrganisationView.of(owner(request).resource))


async def edit_organisation(request: web.Request) -> web.Response:
    body = await read_json(request, EditOrganisation)
    found: Organisation = owner(request).resource
    async with request.app[POOL].acquire() as conn, conn.transaction():
        updated = await commands.update_organisation(
            conn, request.app[POLICY], found.organisation_id, body.name, body.customer_code
        )
    return json_response(OrganisationView.of(updated))


async def list_members(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    found: Organisation = owner(request).resource
    members = await store.accounts(
        request.app[POOL],
        found.tenant_id,
        organisation_id=found.organisation_id,
        limit=query.limit,
        offset=query.offset,
    )
    return json_response(AccountList([AccountView.of(m) for m in members]))


# --- registration ---


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
    sponsor = await _caller_account(request)
    conn = await idempotency.once(request, body)
    new = _new_account(caller.tenant_id, body, [SELLER], None, sponsor_id=sponsor.account_id)
    account = await commands.open_account(
        conn, request.app[POLICY], new, password_hash=None, activation=body.delivery
    )
    created = AccountCreated.of(account)
    return json_response(created, status=201)


async def list_team(request: web.Request) -> web.Response:
    sponsor = await _caller_account(request)
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
    new = _new_account(caller.tenant_id, body, [CUSTOMER], None, card_number=body.card_number)
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


# --- activation ---


def _activated(account: Account) -> web.Response:
    return json_response(AccountActivated(account_id=account.account_id, status="active"))


async def follow_activation_link(request: web.Request) -> web.Response:
    account = await commands.activate_with_token(
        request.app[POOL], request.app[POLICY], request.match_info["token"], None
    )
    return _activated(account)


async def activate_account(request: web.Request) -> web.Response:
    body = await read_json(request, ActivateAccount)
    account = await commands.activate_with_token(
        request.app[POOL], request.app[POLICY], body.token, body.password
    )
    return _activated(account)


async def activate_with_code(request: web.Request) -> web.Response:
    limit(request, "code")
    body = await read_json(request, ActivateWithCode)
    if (body.login is None) == (body.account_id is None):
        raise Invalid.field("login", "give either a login or an account_id", "missing")
    account = await commands.activate_with_code(
        request.app[POOL],
        request.app[POLICY],
        body.tenant_id,
        body.account_id,
        body.login,
        body.code,
        body.password,
    )
    return _activated(account)


async def resend_activation(request: web.Request) -> web.Response:
    limit(request, "message")
    body = await read_json(request, ResendActivation)
    await commands.resend_activation(
        request.app[POOL],
        request.app[POLICY],
        body.tenant_id,
        body.login,
        Delivery(channel=body.channel, method=body.method),
    )
    return json_response(ResendAccepted(status="accepted"), status=202)


# --- the caller's own account ---


async def get_me(request: web.Request) -> web.Response:
    account = await _caller_account(request)
    return json_response(MeView.of_own(account))


async def edit_me(request: web.Request) -> web.Response:
    body = await read_json(request, EditProfile)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    for name in _REQUIRED_IN_PROFILE:
        if name in changes and changes[name] is None:
            raise Invalid.field(name, "cannot be removed", "missing")
    if isinstance(address := changes.get("address"), Address):
        changes["address"] = address.model_dump()
    account = await _caller_account(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        updated = await commands.update_profile(conn, request.app[POLICY], account.account_id, changes)
    return json_response(MeView.of_own(updated))


async def close_my_account(request: web.Request) -> web.Response:
    body = await read_json(request, CloseAccount)
    account = await _caller_account(request)
    if not await passwords.verify_password(account.password_hash, body.password):
        raise Forbidden("wrong-password", "Wrong password", "the password does not match")
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await commands.close_account(conn, request.app[POLICY], account.account_id)
    return web.Response(status=204)


# --- accounts (admins, validators) ---


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
        organisation_id=_as_uuid(seen.organisation_id) or query.organisation_id,
        account_id=_as_uuid(seen.account_id),
        role=query.role,
        status=query.status,
        sponsor_id=query.sponsor_id,
        text=query.q,
        limit=query.limit,
        offset=query.offset,
    )
    return json_response(AccountList([AccountView.of(a) for a in found]))


async def get_account(request: web.Request) -> web.Response:
    return json_response(AccountView.of(owner(request).resource))


async def change_account_membership(request: web.Request) -> web.Response:
    body = await read_json(request, ChangeMembership)
    if "roles" in body.model_fields_set and body.roles is None:
        raise Invalid.field("roles", "cannot be removed: give at least one role", "missing")
    account: Account = owner(request).resource
    async with request.app[POOL].acquire() as conn, conn.transaction():
        updated = await commands.change_membership(
            conn,
            request.app[POLICY],
            account,
            body.roles,
            body.organisation_id,
            organisation_given="organisation_id" in body.model_fields_set,
        )
    return json_response(AccountView.of(updated))


async def delete_account(request: web.Request) -> web.Response:
    account: Account = owner(request).resource
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await commands.close_account(conn, request.app[POLICY], account.account_id)
    return web.Response(status=204)


# --- the route table ---

ADMIN_ONLY = roles(ADMIN)
ADMIN_OR_VALIDATOR = grant(admin=TENANT, validator=ORGANISATION)
# Every member reads her own organisation; an admin reads any of the tenant's.
MEMBER_OR_ADMIN = Grant({ANY_ROLE: ORGANISATION, ADMIN: TENANT})
# Everyone reads her own account; a validator those of her organisation; an admin any of the tenant's.
SELF_VALIDATOR_OR_ADMIN = Grant({ANY_ROLE: SELF, VALIDATOR: ORGANISATION, ADMIN: TENANT})

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
        "/tenant/settings",
        get_tenant_settings,
        "The caller's tenant's settings: password policy, logins, lockout, inactivity",
        roles=ADMIN_ONLY,
        response=TenantSettings,
    ),
    Endpoint(
        "PUT",
        "/tenant/settings",
        replace_tenant_settings,
        "Replace the caller's tenant's settings (every field must be given)",
        roles=ADMIN_ONLY,
        body=TenantSettingsBody,
        response=TenantSettings,
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
        "Rename an organisation or change its customer code",
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
        "Change an account's roles or organisation",
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
    Endpoint(
        "GET",
        "/activations/{token}",
        follow_activation_link,
        "Activate an account: the link of the activation message (409 when a password must be chosen)",
        roles=PUBLIC,
        response=AccountActivated,
        problems={
            409: "The account is active already, or its owner must choose a password (POST /activations)",
            410: "The link expired or was used",
        },
    ),
    Endpoint(
        "POST",
        "/activations",
        activate_account,
        "Activate an account with the token of its link, and the password its owner chooses",
        roles=PUBLIC,
        body=ActivateAccount,
        response=AccountActivated,
        problems={
            404: "Unknown activation link",
            409: "The account is active already",
            410: "The link expired or was used",
        },
    ),
    Endpoint(
        "POST",
        "/activations/code",
        activate_with_code,
        "Activate an account with the numeric code it was sent, and the password its owner chooses",
        roles=PUBLIC,
        body=ActivateWithCode,
        response=AccountActivated,
        problems={409: "The account is active already", 410: "The code expired, or too many wrong codes"},
    ),
    Endpoint(
        "POST",
        "/activations/resend",
        resend_activation,
        "Send a new activation link or code (same answer whether or not the account exists)",
        roles=PUBLIC,
        body=ResendActivation,
        response=ResendAccepted,
        status=202,
    ),
    Endpoint(
        "GET",
        "/me",
        get_me,
        "The caller's account",
        roles=AUTHENTICATED,
        response=MeView,
        problems={404: "The caller's account no longer exists"},
    ),
    Endpoint(
        "PATCH",
        "/me",
        edit_me,
        "Edit one's own details (a new email or phone is announced to notify)",
        roles=AUTHENTICATED,
        body=EditProfile,
        response=MeView,
        problems={404: "The caller's account no longer exists", 409: "The email or phone is taken"},
    ),
    Endpoint(
        "DELETE",
        "/me",
        close_my_account,
        "Close one's account for good (needs its password): every personal value is erased",
        roles=AUTHENTICATED,
        body=CloseAccount,
        status=204,
        problems={
            403: "Wrong password",
            404: "The caller's account no longer exists",
            409: "It would leave the tenant without an admin",
        },
    ),
]
