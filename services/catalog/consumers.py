"""Catalog's consumers: the organisations identity announces, so that terms and price lists are set
only for an organisation of the caller's tenant."""

from __future__ import annotations

import uuid

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, Field

from libs.common.consumer import HandlerTable, PermanentError
from libs.common.events import Envelope
from services.catalog import pricing_store

log = structlog.get_logger(__name__)

ORGANISATIONS = "identity.organisation.v1"
ORGANISATION_CREATED = "identity.organisation.created"
ORGANISATION_UPDATED = "identity.organisation.updated"


class OrganisationAnnounced(BaseModel):
    """Catalog's own reading of identity.organisation.created and .updated (docs/contracts.md)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    organisation_id: uuid.UUID
    name: str = Field(min_length=1)


async def remember_organisation(conn: asyncpg.Connection, event: Envelope) -> None:
    """Keep an organisation in the tenant identity gave it, with its latest name.

    A redelivered event (the inbox aside) writes the same row again. An id already known in another
    tenant is refused for good: an organisation never changes tenant, so such an event is a fault
    for an operator to look at, and it must not move the organisation's terms to another tenant.
    """
    organisation = OrganisationAnnounced.model_validate(event.data)
    if not event.tenantid:
        raise PermanentError(f"a {event.type} event without a tenant names no organisation")
    if str(organisation.organisation_id) != event.subject:
        raise PermanentError(
            f"{event.type} about {organisation.organisation_id} under subject {event.subject}"
        )
    if not await pricing_store.remember_organisation(
        conn, event.tenantid, organisation.organisation_id, organisation.name
    ):
        raise PermanentError(f"organisation {organisation.organisation_id} is already another tenant's")
    log.info("organisation known", organisation_id=str(organisation.organisation_id), event_type=event.type)


# The model each consumed event type is read with: producers' examples must satisfy it (tests/contracts).
READINGS: dict[str, type[BaseModel]] = {
    ORGANISATION_CREATED: OrganisationAnnounced,
    ORGANISATION_UPDATED: OrganisationAnnounced,
}

HANDLERS: HandlerTable = {
    ORGANISATIONS: {
        ORGANISATION_CREATED: remember_organisation,
        ORGANISATION_UPDATED: remember_organisation,
    }
}
