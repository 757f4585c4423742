"""CloudEvents 1.0 envelope, the base of published event models and a service's event catalog."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.common.logging import current_correlation


class IntegrationEvent(BaseModel):
    """Base of every event a service publishes; one subclass per event type and version.

    Subclasses set `event_type` (`<service>.<aggregate>.<past_tense>`) and `topic`
    (`<service>.<aggregate>.v<N>`), and describe each field: the JSON Schema is generated from them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    topic: ClassVar[str]
    schema_version: ClassVar[int] = 1  # bumped with the topic version on a breaking change
    internal: ClassVar[bool] = False  # internal topics carry secrets or contact data: never for partners

    @classmethod
    def dataschema(cls) -> str:
        return f"urn:comptoir:event:{cls.event_type}:v{cls.schema_version}"


class Envelope(BaseModel):
    """A CloudEvent in structured JSON mode. Consumers read it tolerantly (unknown fields ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID = Field(description="Unique event id; consumers deduplicate on it")
    source: str = Field(description="The service that published the event")
    type: str = Field(description="<service>.<aggregate>.<past_tense>")
    time: datetime
    subject: str = Field(description="The aggregate id, also the Kafka message key")
    dataschema: str
    datacontenttype: Literal["application/json"] = "application/json"
    tenantid: str
    correlationid: str | None = None
    causationid: str | None = None
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def envelope(
    source: str,
    event: IntegrationEvent,
    *,
    subject: str,
    tenant_id: str,
    time: datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> Envelope:
    """Wrap an event's data, carrying the correlation and causation ids of the current context."""
    correlation_id, causation_id = current_correlation()
    return Envelope(
        id=event_id or uuid.uuid4(),
        source=source,
        type=event.event_type,
        time=time or datetime.now(UTC),
        subject=subject,
        dataschema=event.dataschema(),
        tenantid=tenant_id,
        correlationid=correlation_id,
        causationid=causation_id,
        data=event.model_dump(mode="json"),
    )


class EventCatalog:
    """What one service publishes: its event models, by type. Exports JSON Schemas for partners."""

    def __init__(self, source: str, events: Iterable[type[IntegrationEvent]]) -> None:
        self.source = source
        self.events: dict[str, type[IntegrationEvent]] = {}
        for model in events:
            if model.event_type in self.events:
                raise ValueError(f"event type {model.event_type} registered twice")
            # An internal request may go to another service's inbox topic (notify.requests.v1).
            own_topic = model.topic.startswith(f"{source}.") or model.internal
            if not model.event_type.startswith(f"{source}.") or not own_topic:
                raise ValueError(f"{model.__name__} must be named after its service {source}")
            self.events[model.event_type] = model

    @property
    def topics(self) -> list[str]:
        return sorted({model.topic for model in self.events.values()})

    def json_schemas(self) -> dict[str, Any]:
        """`{event type: {topic, internal, schema}}`; `schema` is the JSON Schema of `data`."""
        return {
            name: {
                "topic": model.topic,
                "version": model.schema_version,
                "internal": model.internal,
                "dataschema": model.dataschema(),
                "schema": model.model_json_schema(),
            }
            for name, model in sorted(self.events.items())
        }
