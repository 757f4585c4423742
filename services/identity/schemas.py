"""Identity's request and response bodies: what its routes read and answer, with their bounds and
descriptions (the OpenAPI document is generated from them)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel, StringConstraints

from libs.common.api import exactly_one_of
from libs.common.clock import TimeZoneName
from services.identity import sessions
from services.identity.domain import (
    CARD_NUMBER_PATTERN,
    EMAIL_PATTERN,
    MAX_AGE,
    MAX_PASSWORD,
    MIN_AGE,
    PASSPORT_PATTERN,
    TENANT_ID_PATTERN,
    Account,
    AccountStatus,
    Address,
    Organisation,
    Role,
    TenantSettings,
    normalise_phone,
)
from services.identity.events import Channel, Locale, OrganisationKind
from services.identity.policy import Delivery

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
    time_zone: TimeZoneName = Field(
        "UTC", description="The tenant's IANA time zone (e.g. Europe/Paris); a setting it can change"
    )


class MerchantSignUp(_Body):
    """Her space and her manager account; the password follows the default policy."""

    tenant_id: TenantId = Field(description="Her space's id in addresses: 2 to 40 of a-z, 0-9 and -")
    name: Name = Field(description="Her business's name")
    time_zone: TimeZoneName = Field("Europe/Paris", description="Her IANA time zone")
    email: Email = Field(description="Her email: the link to confirm is sent there; her login")
    display_name: Name = Field(description="How to greet her")
    locale: Locale = Field("fr", description="Language: fr, en or ru")
    password: Password = Field(description="Her password (8 characters or more, the four classes)")


class SignUpStarted(BaseModel):
    status: str = Field(description="verification_sent: follow the emailed link to create the space")
    expires_at: datetime = Field(description="When the link stops working (UTC)")


class ConfirmSignUp(_Body):
    token: str = Field(min_length=1, max_length=200, description="The token of the emailed link")


class TenantCreated(BaseModel):
    tenant_id: str = Field(description="The new tenant")
    admin_account_id: uuid.UUID = Field(description="Its first admin's account id")


class TenantPublicView(BaseModel):
    """What anyone may know of a tenant, to sign in to it: its name, time zone, the identifiers it
    accepts and the rules a new password must follow."""

    tenant_id: str = Field(description="The tenant's slug")
    name: str = Field(description="The tenant's display name")
    time_zone: str = Field(description="Its IANA time zone: times are shown in it")
    login_identifiers: list[str] = Field(
        description="What people sign in with: email, registration_number, card_number"
    )
    password_min_length: int = Field(description="Shortest password accepted")
    password_classes: list[str] = Field(description="Character classes a password must hold")


class TenantSettingsBody(TenantSettings):
    """Every setting of the tenant (PUT replaces them all: each field must be given)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


OpeningHours = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class _OrganisationDetails(_Body):
    address: Address | None = Field(None, description="Postal address (a shop's, shown to customers)")
    phone: Phone | None = Field(None, description="Phone number (E.164)")
    opening_hours: OpeningHours | None = Field(
        None, description="Opening hours as customers read them, e.g. “Mon-Sat 9:00-19:00”"
    )


class CreateOrganisation(_OrganisationDetails):
    name: Name = Field(description="The organisation's name, e.g. a pharmacy")
    customer_code: CustomerCode | None = Field(
        None,
        description="The tenant's reference for this customer; unique in the tenant; generated when absent",
    )
    kind: OrganisationKind = Field(
        "partner",
        description="partner: a customer's organisation whose accounts order; shop: a point of sale"
        " whose staff (shop role) serve customers at the counter. It never changes.",
    )


class EditOrganisation(_OrganisationDetails):
    name: Name | None = Field(None, description="A new name")
    customer_code: CustomerCode | None = Field(None, description="A new customer code, unique in the tenant")


class OrganisationView(BaseModel):
    organisation_id: uuid.UUID = Field(description="The organisation's id")
    name: str = Field(description="The organisation's name")
    customer_code: str = Field(description="The tenant's reference for this customer")
    kind: OrganisationKind = Field(description="partner or shop")
    address: Address | None = Field(description="Postal address, if given")
    phone: str | None = Field(description="Phone number, if given")
    opening_hours: str | None = Field(description="Opening hours, if given")

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
    professional: bool = Field(False, description="A professional customer (rules and rewards for them)")
    shop_id: uuid.UUID | None = Field(
        None,
        description="The shop registering her (an admin's choice; a shop's staff register at their own shop)",
    )


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
    professional: bool = Field(description="A professional customer")
    home_shop_id: uuid.UUID | None = Field(description="The shop that registered her, for a customer")
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


class ChangeMembership(_Body):
    """An admin changes an account's roles and/or organisation (null: no organisation)."""

    roles: list[Role] | None = Field(None, min_length=1, description="The account's roles from now on")
    organisation_id: uuid.UUID | None = Field(None, description="Its organisation from now on; null for none")
    professional: bool | None = Field(None, description="Whether she is a professional customer from now on")


class CloseAccount(_Body):
    password: Password = Field(description="The account's password, to confirm")


Secret = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class OpenSession(_Body):
    """Credentials: give `login` (an email, a registration number or a card number, as the tenant
    allows), or `email` as before."""

    model_config = ConfigDict(json_schema_extra=exactly_one_of("login", "email"))

    tenant_id: str = Field(max_length=40, description="The tenant the account belongs to")
    login: Login | None = Field(
        None, description="An email, a registration number or a loyalty card number (as the tenant allows)"
    )
    email: Login | None = Field(None, description="Older form of `login` that accepts only an email")
    password: str = Field(max_length=MAX_PASSWORD, description="The account's password")


class SessionView(BaseModel):
    access_token: str = Field(description="An EdDSA-signed JWT (see docs/contracts.md for its claims)")
    token_type: Literal["Bearer"] = Field(description="Send it as 'Authorization: Bearer <token>'")
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str = Field(
        description="Opaque; exchange it at POST /sessions/refresh for new tokens. Single use: each"
        " refresh returns the next one, and presenting a used one again ends the session"
    )
    refresh_expires_in: int = Field(description="Seconds until the session ends (counted from the login)")

    @classmethod
    def of(cls, session: sessions.Session, now: datetime) -> SessionView:
        return cls(
            access_token=session.access_token,
            token_type="Bearer",
            expires_in=session.expires_in,
            refresh_token=session.refresh_token,
            refresh_expires_in=round((session.refresh_expires_at - now).total_seconds()),
        )


class PasswordChangeRequired(BaseModel):
    """The 403 problem of a right password whose owner must choose a new one first."""

    type: str = Field(description="urn:comptoir:problem:password-change-required")
    title: str = Field(description="Password change required")
    status: int = Field(description="403")
    detail: str = Field(description="What to do")
    instance: str = Field(description="The path called")
    password_change_required: Literal[True] = Field(description="Always true")
    change_token: str = Field(
        description="Single use: send it with the new password to /sessions/password-change"
    )
    change_token_expires_in: int = Field(description="Seconds the change token works")


class ChangeRequiredPassword(_Body):
    change_token: Secret = Field(description="The change_token of the login's 403 answer")
    new_password: Password = Field(description="The new password: the tenant's policy, not the old one")


class RefreshSession(_Body):
    refresh_token: Secret = Field(description="The latest refresh token of the session")


class LogOut(_Body):
    refresh_token: Secret = Field(description="A refresh token of the session to end")


class SessionsRevoked(BaseModel):
    revoked: int = Field(description="How many sessions were ended")


class ChangePassword(_Body):
    current_password: str = Field(max_length=MAX_PASSWORD, description="The password in use")
    new_password: Password = Field(description="The new password: the tenant's policy, not the current one")


class RequestRecovery(_Body):
    tenant_id: str = Field(max_length=40, description="The tenant the account belongs to")
    login: Login = Field(description="The email, phone number (+33…), registration number or card number")
    channel: Literal["email", "sms", "both"] = Field(
        "both", description="Where to send the code; a channel the account cannot receive is replaced"
    )


class RecoveryAccepted(BaseModel):
    detail: str = Field(description="The same answer whether or not an account matched")


class ConfirmRecovery(_Body):
    tenant_id: str = Field(max_length=40, description="The tenant the account belongs to")
    login: Login = Field(description="The login given when asking for the code")
    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{6}$")] = Field(
        description="The 6 digits received"
    )
    new_password: Password = Field(description="The new password, under the tenant's policy")


class KeyRotated(BaseModel):
    kid: str = Field(description="The new key, published now")
    signs_from: datetime = Field(description="When it starts signing (a few seconds from now)")
    retired: list[str] = Field(description="The keys that stop signing then")
    published_until: datetime | None = Field(
        description="Until when the retired keys stay in the JWKS: their last tokens expire by then"
    )


class Jwk(BaseModel):
    kty: Literal["OKP"] = Field(description="Key type: octet key pair")
    crv: Literal["Ed25519"] = Field(description="The curve")
    alg: Literal["EdDSA"] = Field(description="The signature algorithm")
    use: Literal["sig"] = Field(description="Signature keys")
    kid: str = Field(description="The key id, in the header of the tokens it signs")
    x: str = Field(description="The public key, base64url without padding")


class Jwks(BaseModel):
    """The public keys that verify identity's access tokens."""

    keys: list[Jwk] = Field(description="Every key whose tokens may still be valid, and the next one")
