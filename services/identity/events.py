"""Events identity publishes (docs/contracts.md): their JSON Schemas are generated from these models."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from libs.common.events import IntegrationEvent, examples

if TYPE_CHECKING:  # the domain names these types; events are built from them, never the reverse
    from services.identity.domain import Account, Organisation

OrganisationKind = Literal["partner", "shop"]
"""partner: a customer's organisation (a pharmacy) whose accounts order; shop: a merchant's point of
sale whose accounts (the shop role) serve customers at the counter."""

SERVICE = "identity"

# The people and things the examples speak of; other services' examples name the same ones.
_ACCOUNT = "8d1c6a5e-3f2b-4c1d-9e7a-2b5f0c4d6e81"
_ORGANISATION = "0f6b2c1e-7a3d-4e5f-8b9c-1d2e3f4a5b6c"
_SESSION = "c3a9f1d2-6b4e-4f7a-8c5d-9e0f1a2b3c4d"

Locale = Literal["fr", "en", "ru"]
"""Languages an account can be written to in."""

Channel = Literal["email", "sms"]
"""How a message reaches a person."""


class AccountRegistered(IntegrationEvent):
    """An account was created (pending activation, or active at once for a tenant's first admin).

    Public: no contact data here, it travels on the internal internal.identity.contact.v1.
    """

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "roles": ["partner"],
            "organisation_id": _ORGANISATION,
            "registered_at": "2026-03-02T09:00:00Z",
        }
    )

    event_type = "identity.account.registered"
    topic = "identity.account.v1"

    account_id: str = Field(description="The new account's id (UUID); also the subject and Kafka key")
    roles: list[str] = Field(description="Roles of the account: admin, shop, partner, validator, seller…")
    organisation_id: str | None = Field(description="The organisation the account belongs to, if any")
    registered_at: datetime = Field(description="When the account was created (UTC)")

    @classmethod
    def of(cls, account: Account) -> Self:
        organisation_id = str(account.organisation_id) if account.organisation_id else None
        return cls(
            account_id=str(account.account_id),
            roles=account.roles,
            organisation_id=organisation_id,
            registered_at=account.created_at,
        )


class AccountActivated(IntegrationEvent):
    """An account became active: its owner may log in."""

    model_config = examples({"account_id": _ACCOUNT, "activated_at": "2026-03-02T09:05:00Z"})

    event_type = "identity.account.activated"
    topic = "identity.account.v1"

    account_id: str = Field(description="The activated account's id; also the subject and Kafka key")
    activated_at: datetime = Field(description="When the account became active (UTC)")

    @classmethod
    def of(cls, account: Account, at: datetime) -> Self:
        return cls(account_id=str(account.account_id), activated_at=at)


class AccountMembershipChanged(IntegrationEvent):
    """An admin changed an account's roles or organisation. Tokens issued before keep the old claims
    until they expire (15 minutes)."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "roles": ["partner", "validator"],
            "organisation_id": _ORGANISATION,
            "changed_at": "2026-03-10T14:30:00Z",
        }
    )

    event_type = "identity.account.membership_changed"
    topic = "identity.account.v1"

    account_id: str = Field(description="The account's id; also the subject and Kafka key")
    roles: list[str] = Field(description="The account's roles now")
    organisation_id: str | None = Field(description="The organisation the account belongs to now, if any")
    changed_at: datetime = Field(description="When the change was made (UTC)")

    @classmethod
    def of(cls, account: Account, at: datetime) -> Self:
        organisation_id = str(account.organisation_id) if account.organisation_id else None
        return cls(
            account_id=str(account.account_id),
            roles=account.roles,
            organisation_id=organisation_id,
            changed_at=at,
        )


class TenantSettingsChanged(IntegrationEvent):
    """A tenant was created, or its admin replaced its settings: what the other services need of
    them. Keyed and subject by the tenant id (also the envelope's `tenantid`); the latest one holds.
    """

    model_config = examples({"time_zone": "Europe/Paris", "changed_at": "2026-02-20T09:00:00Z"})

    event_type = "identity.tenant.settings_changed"
    topic = "identity.tenant.v1"

    time_zone: str = Field(
        description="The tenant's IANA time zone (e.g. Europe/Paris): count its days and show its times in it"
    )
    changed_at: datetime = Field(description="When the settings were set (UTC)")


ORGANISATIONS_TOPIC = "identity.organisation.v1"


class OrganisationCreated(IntegrationEvent):
    """A tenant's admin added an organisation (a pharmacy, a shop) that partner accounts belong to.

    Other services learn from it which organisation ids exist and in which tenant (the envelope's
    `tenantid`). Its customer code is not here: people quote it to join the organisation when they
    register, so it is a secret of the tenant.
    """

    model_config = examples(
        {
            "organisation_id": _ORGANISATION,
            "name": "Pharmacie du Marché",
            "created_at": "2026-02-20T10:00:00Z",
            "kind": "partner",
        }
    )

    event_type = "identity.organisation.created"
    topic = ORGANISATIONS_TOPIC

    organisation_id: str = Field(description="The organisation's id (UUID); also the subject and Kafka key")
    name: str = Field(description="The organisation's name, e.g. a pharmacy")
    created_at: datetime = Field(description="When the organisation was created (UTC)")
    kind: OrganisationKind = Field(
        "partner",
        description="partner: a customer's organisation whose accounts order; shop: a merchant's point"
        " of sale whose staff serve customers at the counter (absent from events before shops existed:"
        " partner)",
    )

    @classmethod
    def of(cls, organisation: Organisation) -> Self:
        return cls(
            organisation_id=str(organisation.organisation_id),
            name=organisation.name,
            created_at=organisation.created_at,
            kind=organisation.kind,
        )


class OrganisationUpdated(IntegrationEvent):
    """An admin renamed an organisation. A change of its customer code alone publishes nothing."""

    model_config = examples(
        {
            "organisation_id": _ORGANISATION,
            "name": "Pharmacie du Marché — Lyon 2",
            "updated_at": "2026-03-12T16:45:00Z",
            "kind": "partner",
        }
    )

    event_type = "identity.organisation.updated"
    topic = ORGANISATIONS_TOPIC

    organisation_id: str = Field(description="The organisation's id; also the subject and Kafka key")
    name: str = Field(description="The organisation's name now")
    updated_at: datetime = Field(description="When the change was made (UTC)")
    kind: OrganisationKind = Field(
        "partner", description="partner or shop, as when it was created (a kind never changes)"
    )

    @classmethod
    def of(cls, organisation: Organisation, at: datetime) -> Self:
        return cls(
            organisation_id=str(organisation.organisation_id),
            name=organisation.name,
            updated_at=at,
            kind=organisation.kind,
        )


class ContactAddress(BaseModel):
    """A person's postal address."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line1: str = Field(description="Street and number")
    line2: str | None = Field(None, description="Building, floor, care of…")
    postal_code: str = Field(description="Postal code")
    city: str = Field(description="City")
    country: str = Field(description="ISO 3166-1 alpha-2 country")


class ContactChanged(IntegrationEvent):
    """How to reach an account's owner, on creation and whenever it changes. Internal: personal data.
    Ordering starts the address book of a person without an organisation (a consultant) from
    `address`."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "email": "lea@pharmacie.test",
            "display_name": "Léa",
            "locale": "fr",
            "phone": "+33612345678",
            "address": {
                "line1": "12 rue des Lilas",
                "line2": None,
                "postal_code": "69004",
                "city": "Lyon",
                "country": "FR",
            },
        }
    )

    event_type = "identity.contact.changed"
    topic = "internal.identity.contact.v1"
    internal = True

    account_id: str = Field(description="Whose contact this is; also the subject and Kafka key")
    email: str = Field(description="The address to write to")
    display_name: str = Field(description="How to greet the person")
    locale: Locale = Field(description="Language to write in: fr, en or ru")
    phone: str | None = Field(None, description="Mobile number for SMS (E.164), if the person gave one")
    address: ContactAddress | None = Field(None, description="The person's postal address, if she gave one")

    @classmethod
    def of(cls, account: Account) -> Self:
        return cls(
            account_id=str(account.account_id),
            email=account.email,
            display_name=account.display_name,
            locale=account.locale,
            phone=account.phone,
            address=ContactAddress.model_validate(account.address) if account.address else None,
        )


class AccountFactsChanged(IntegrationEvent):
    """What the other services need of an account besides its contact, on creation and whenever one
    of them changes; the latest one holds. Internal: a card number is a login identifier, and it
    tells who shops where."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "roles": ["customer"],
            "card_number": "4970123456789012",
            "professional": False,
            "shop_id": _ORGANISATION,
            "sponsor_id": None,
            "changed_at": "2026-03-02T09:00:00Z",
        }
    )

    event_type = "identity.account.facts_changed"
    topic = "internal.identity.facts.v1"
    internal = True

    account_id: str = Field(description="Whose facts these are; also the subject and Kafka key")
    roles: list[str] = Field(description="The account's roles: customer, shop, partner…")
    card_number: str | None = Field(description="Her loyalty card number, if she has one")
    professional: bool = Field(description="A professional customer (rules and rewards for professionals)")
    shop_id: str | None = Field(
        description="The shop (an organisation of kind shop) that registered her, for a customer"
    )
    sponsor_id: str | None = Field(description="The seller who recruited her into her team, if any")
    changed_at: datetime = Field(description="When these facts were set (UTC)")

    @classmethod
    def of(cls, account: Account, at: datetime) -> Self:
        return cls(
            account_id=str(account.account_id),
            roles=account.roles,
            card_number=account.card_number,
            professional=account.professional,
            shop_id=str(account.home_shop_id) if account.home_shop_id else None,
            sponsor_id=str(account.sponsor_id) if account.sponsor_id else None,
            changed_at=at,
        )


class AccountDeleted(IntegrationEvent):
    """An account was deleted: closed by its owner or an admin, or after inactivity. Every service
    that stores personal data of this account erases or anonymises it on this event."""

    model_config = examples(
        {"account_id": _ACCOUNT, "reason": "closed", "deleted_at": "2026-09-01T08:00:00Z"}
    )

    event_type = "identity.account.deleted"
    topic = "identity.account.v1"

    account_id: str = Field(description="The deleted account's id; also the subject and Kafka key")
    reason: Literal["closed", "inactive"] = Field(
        description="closed: by its owner or an admin; inactive: the tenant's inactivity rule"
    )
    deleted_at: datetime = Field(description="When the account was deleted (UTC)")

    @classmethod
    def of(cls, account: Account, reason: Literal["closed", "inactive"], at: datetime) -> Self:
        return cls(account_id=str(account.account_id), reason=reason, deleted_at=at)


RevocationReason = Literal[
    "logout", "refresh_token_reused", "signed_out_everywhere", "password_changed", "account_deleted"
]
"""Why sessions ended."""


class SessionsRevoked(IntegrationEvent):
    """Sessions of an account ended before their access tokens expire: every service refuses those
    tokens from now on (libs.common.revocation reads this topic in every process that verifies
    tokens). Internal: it is of no use to partners, and tells when people sign out."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "session_ids": [_SESSION],
            "reason": "logout",
            "revoked_at": "2026-03-02T18:00:00Z",
            "tokens_expire_by": "2026-03-02T18:15:00Z",
        }
    )

    event_type = "identity.session.revoked"
    topic = "internal.identity.session.v1"
    internal = True

    account_id: str = Field(description="Whose sessions ended; also the subject and Kafka key")
    session_ids: list[str] = Field(
        description="The ended sessions: the `sid` claim of their access tokens (every one of them"
        " whose tokens may still be alive, for an account-wide end)"
    )
    reason: RevocationReason = Field(
        description="logout, refresh_token_reused (a used refresh token came back: its whole session"
        " ends), signed_out_everywhere, password_changed (by its owner, a forced change or a recovery"
        " code) or account_deleted; for an API client (account_id is then the client's id), its secret"
        " rotated (password_changed) or the client revoked (account_deleted)"
    )
    revoked_at: datetime = Field(description="When the sessions ended (UTC)")
    tokens_expire_by: datetime = Field(
        description="When the last access token of these sessions expires (UTC): verifiers may forget"
        " the revocation then"
    )

    @classmethod
    def of(
        cls,
        account: Account,
        session_ids: Sequence[uuid.UUID],
        reason: RevocationReason,
        at: datetime,
        tokens_expire_by: datetime,
    ) -> Self:
        return cls(
            account_id=str(account.account_id),
            session_ids=[str(session_id) for session_id in session_ids],
            reason=reason,
            revoked_at=at,
            tokens_expire_by=tokens_expire_by,
        )


class _MessageRequest(IntegrationEvent):
    """Something identity asks notify to send to one person, by email or SMS. Internal: it holds
    contact data and a secret."""

    topic = "internal.notify.requests.v1"
    internal = True

    account_id: str = Field(description="Whom it is for; also the subject and Kafka key")
    channel: Channel = Field(description="email or sms")
    email: str | None = Field(description="The address, when the channel is email")
    phone: str | None = Field(description="The mobile number (E.164), when the channel is sms")
    display_name: str = Field(description="How to greet the person")
    locale: Locale = Field(description="Language of the message: fr, en or ru")

    @staticmethod
    def recipient(account: Account, channel: Channel) -> dict[str, Any]:
        """Whom a message is for, by this channel: only the address the channel uses is given."""
        return {
            "account_id": str(account.account_id),
            "channel": channel,
            "email": account.email if channel == "email" else None,
            "phone": account.phone if channel == "sms" else None,
            "display_name": account.display_name,
            "locale": account.locale,
        }


class ActivationRequested(_MessageRequest):
    """Send the activation link, by email or by SMS (a seller's recruit gets it by SMS by default)."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "channel": "email",
            "email": "lea@pharmacie.test",
            "phone": None,
            "display_name": "Léa",
            "locale": "fr",
            "activation_url": "https://demo.comptoir.example/activations/q3Vt8kXr0sLw2mZbNc7yPa",
        }
    )

    event_type = "identity.activation.requested"

    channel: Channel = Field("email", description="email or sms")
    email: str | None = Field(None, description="The address, when the channel is email")
    phone: str | None = Field(None, description="The mobile number (E.164), when the channel is sms")
    activation_url: str = Field(description="The link to click; it holds a single-use secret token")

    @classmethod
    def of(cls, account: Account, channel: Channel, activation_url: str) -> Self:
        return cls(**cls.recipient(account, channel), activation_url=activation_url)


class ActivationCodeRequested(_MessageRequest):
    """Send a numeric activation code, to type instead of following a link."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "channel": "sms",
            "email": None,
            "phone": "+33612345678",
            "display_name": "Léa",
            "locale": "fr",
            "code": "482913",
            "expires_at": "2026-03-02T09:15:00Z",
        }
    )

    event_type = "identity.activation.code_requested"

    code: str = Field(description="The digits to type; single use")
    expires_at: datetime = Field(description="When the code stops working (UTC)")

    @classmethod
    def of(cls, account: Account, channel: Channel, code: str, expires_at: datetime) -> Self:
        return cls(**cls.recipient(account, channel), code=code, expires_at=expires_at)


class RecoveryCodeRequested(_MessageRequest):
    """Send a temporary numeric code that lets the person choose a new password."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "channel": "email",
            "email": "lea@pharmacie.test",
            "phone": None,
            "display_name": "Léa",
            "locale": "fr",
            "code": "730215",
            "expires_at": "2026-04-07T11:10:00Z",
        }
    )

    event_type = "identity.recovery.requested"

    code: str = Field(description="The digits to type; single use")
    expires_at: datetime = Field(description="When the code stops working (UTC)")

    @classmethod
    def of(cls, account: Account, channel: Channel, code: str, expires_at: datetime) -> Self:
        return cls(**cls.recipient(account, channel), code=code, expires_at=expires_at)
