"""Events identity publishes (docs/contracts.md): their JSON Schemas are generated from these models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from libs.common.events import IntegrationEvent

SERVICE = "identity"

Locale = Literal["fr", "en", "ru"]
"""Languages an account can be written to in."""


class AccountRegistered(IntegrationEvent):
    """An account was created (pending activation, or active at once for a tenant's first admin).

    Public: no contact data here, it travels on the internal identity.contact.v1.
    """

    event_type = "identity.account.registered"
    topic = "identity.account.v1"

    account_id: str = Field(description="The new account's id (UUID); also the subject and Kafka key")
    roles: list[str] = Field(description="Roles of the account: admin, shop, partner, validator, seller…")
    organisation_id: str | None = Field(description="The organisation the account belongs to, if any")
    registered_at: datetime = Field(description="When the account was created (UTC)")


class AccountActivated(IntegrationEvent):
    """An account became active: its owner may log in."""

    event_type = "identity.account.activated"
    topic = "identity.account.v1"

    account_id: str = Field(description="The activated account's id; also the subject and Kafka key")
    activated_at: datetime = Field(description="When the account became active (UTC)")


class ContactChanged(IntegrationEvent):
    """How to reach an account's owner, on creation and whenever it changes. Internal: personal data."""

    event_type = "identity.contact.changed"
    topic = "identity.contact.v1"
    internal = True

    account_id: str = Field(description="Whose contact this is; also the subject and Kafka key")
    email: str = Field(description="The address to write to")
    display_name: str = Field(description="How to greet the person")
    locale: Locale = Field(description="Language to write in: fr, en or ru")


class ActivationRequested(IntegrationEvent):
    """Ask notify to send the activation email. Internal: the URL holds the secret activation token."""

    event_type = "identity.activation.requested"
    topic = "notify.requests.v1"
    internal = True

    account_id: str = Field(description="The account to activate; also the subject and Kafka key")
    email: str = Field(description="Where to send the activation link")
    display_name: str = Field(description="How to greet the person")
    locale: Locale = Field(description="Language of the email: fr, en or ru")
    activation_url: str = Field(description="The link to click; it holds a single-use secret token")
