"""CloudEvents 1.0 envelope, the base of published event models and a service's event catalog."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.common.logging import current_correlation

INTERNAL_PREFIX = "internal."
"""Topics for the platform's own services only: a broker ACL excludes them by this prefix."""

_SNAKE = r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*"
_EVENT_TYPE = re.compile(rf"({_SNAKE})\.({_SNAKE})\.({_SNAKE})")
_TOPIC = re.compile(rf"(?:{re.escape(INTERNAL_PREFIX)})?({_SNAKE})\.({_SNAKE})\.v[1-9][0-9]*")

IRREGULAR_PAST_PARTICIPLES = frozenset(
    {"begun", "bought", "built", "chosen", "done", "drawn", "given", "held", "kept", "left", "lost",
     "made", "paid", "put", "read", "sent", "set", "shown", "sold", "spent", "taken", "withdrawn", "written"}
)  # fmt: skip
"""Past tenses that do not end in "ed"; extend it when a new event needs one."""


def is_internal_topic(topic: str) -> bool:
    """Whether a (logical) topic is internal: never granted to partners."""
    return topic.startswith(INTERNAL_PREFIX)


def naming_problems(source: str, event_type: str, topic: str, internal: bool) -> list[str]:
    """What breaks the naming rules in one event's declaration; empty when it follows them.

    Types are `<service>.<aggregate>.<verb>`: three snake_case segments, the verb in the past tense
    (`identity.account.membership_changed`), possibly followed by its purpose
    (`ordering.order.held_for_approval`). Topics are `<service>.<aggregate>.v<N>`, with the prefix
    `internal.` exactly when the event is internal; a public topic is named after its service, an
    internal one may be another service's inbox (`internal.notify.requests.v1`).
    """
    problems = []
    type_match = _EVENT_TYPE.fullmatch(event_type)
    if type_match is None:
        problems.append(f"type {event_type!r} is not three snake_case segments <service>.<aggregate>.<verb>")
    else:
        if type_match[1] != source:
            problems.append(f"type {event_type!r} must start with its service {source!r}")
        # The verb ends the type, or comes before the purpose it names: `held_for_approval`.
        verb = re.sub(r"_for_[a-z0-9]+$", "", type_match[3]).rsplit("_", 1)[-1]
        if not verb.endswith("ed") and verb not in IRREGULAR_PAST_PARTICIPLES:
            problems.append(f"type {event_type!r} must end in a verb in the past tense, not {verb!r}")
    topic_match = _TOPIC.fullmatch(topic)
    if topic_match is None:
        problems.append(f"topic {topic!r} is not [internal.]<service>.<aggregate>.v<N>, snake_case")
    elif not is_internal_topic(topic) and topic_match[1] != source:
        problems.append(f"public topic {topic!r} must start with its service {source!r}")
    if internal != is_internal_topic(topic):
        problems.append(
            f"topic {topic!r} of an {'internal' if internal else 'public'} event must"
            f" {'' if internal else 'not '}start with {INTERNAL_PREFIX!r}"
        )
    return problems


class IntegrationEvent(BaseModel):
    """Base of every event a service publishes; one subclass per event type and version.

    Subclasses set `event_type` (`<service>.<aggregate>.<past_tense>`) and `topic`
    (`<service>.<aggregate>.v<N>`, prefixed `internal.` for an internal event, which also sets
    `internal`), and describe each field: the JSON Schema is generated from them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    topic: ClassVar[str]
    schema_version: ClassVar[int] = 1  # bumped with the topic version on a breaking change
    internal: ClassVar[bool] = False  # secrets, contact data or one consumer's requests: never for partners

    @classmethod
    def dataschema(cls) -> str:
        return f"urn:comptoir:event:{cls.event_type}:v{cls.schema_version}"


def examples(*payloads: dict[str, Any]) -> ConfigDict:
    """An event model's config that shows `payloads` as the `examples` of its JSON Schema.

    Each is a payload as the publisher sends it (JSON: ids and times as strings), which must validate
    against the model; consumers' tests start from them (docs/contracts.md).
    """
    return ConfigDict(json_schema_extra={"examples": list(payloads)})


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
            problems = naming_problems(source, model.event_type, model.topic, model.internal)
            if problems:
                raise ValueError(f"{model.__name__} breaks the naming rules: {'; '.join(problems)}")
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
