"""A minimal service for the backbone tests: publishes probe events and counts their effects."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from libs.common.events import Envelope, EventCatalog, IntegrationEvent
from libs.common.runtime import ServiceSpec, main
from libs.common.settings import ServiceSettings

TOPIC = "probe.item.v1"


class ItemChanged(IntegrationEvent):
    """The probe's published event."""

    event_type = "probe.item.changed"
    topic = TOPIC

    key: str = Field(description="The item, also the aggregate key")
    seq: int = Field(description="Position of this change among the item's changes")
    fail: bool = Field(False, description="The consumer fails on it until the `fixed` switch is on")
    written_at: datetime = Field(description="When the change was committed")


class ItemChangedIn(BaseModel):
    """The consumer's own, tolerant reading of the event."""

    model_config = ConfigDict(extra="ignore")
    key: str
    seq: int
    fail: bool = False
    written_at: datetime


class ProbeFailure(RuntimeError):
    pass


async def record_effect(conn: asyncpg.Connection, event: Envelope) -> None:
    item = ItemChangedIn.model_validate(event.data)
    if item.fail and not await conn.fetchval("SELECT on_ FROM probe_switches WHERE name = 'fixed'"):
        raise ProbeFailure(f"probe refuses {item.key}#{item.seq}")
    await conn.execute(
        "INSERT INTO effects (event_id, key, seq, pid, written_at) VALUES ($1, $2, $3, $4, $5)",
        event.id,
        item.key,
        item.seq,
        os.getpid(),
        item.written_at,
    )


SPEC = ServiceSpec(
    name="probe",
    folder=Path(__file__).parent,
    events=EventCatalog("probe", [ItemChanged]),
    handlers={TOPIC: {ItemChanged.event_type: record_effect}},
)

if __name__ == "__main__":
    main(SPEC, ServiceSettings())  # type: ignore[call-arg]  # service_name comes from the environment
