"""Producers' examples, read from the committed `docs/events/`: what a consumer's tests start from.

A test that feeds a service another service's event builds it from the publisher's example and
varies only what it needs (`example_event("ordering.order.submitted", tenant, subject=..., total_minor=500)`),
instead of writing the payload by hand: when the publisher changes its events, the examples change
with them (`make contracts`), and the consumer's tests see what it really sends. Reads JSON only:
no service's code is imported here.
"""

from __future__ import annotations

import copy
import functools
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from libs.common.events import Envelope

FOLDER = Path(__file__).resolve().parents[2] / "docs" / "events"


@functools.cache
def _published() -> dict[str, dict[str, Any]]:
    """`{event type: {topic, source, dataschema, schema}}` of every committed topic version."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(FOLDER.glob("*.json")):
        document = json.loads(path.read_text("utf-8"))
        for event_type, event in document["events"].items():
            found[event_type] = {"topic": document["topic"], **event}
    return found


def published(event_type: str) -> dict[str, Any]:
    """The committed entry of an event type: its `topic`, `source`, `dataschema` and `schema`."""
    try:
        return copy.deepcopy(_published()[event_type])
    except KeyError:
        raise KeyError(
            f"no committed schema publishes {event_type} in docs/events (make contracts)"
        ) from None


def topic_of(event_type: str) -> str:
    """The topic version the event type is published on."""
    return str(published(event_type)["topic"])


def examples(event_type: str) -> list[dict[str, Any]]:
    """Every example the publisher gives of the event's data, as it sends them (JSON values)."""
    return list(published(event_type)["schema"].get("examples", []))


def example(
    event_type: str, *, index: int = 0, extra: Mapping[str, Any] | None = None, **changes: Any
) -> dict[str, Any]:
    """The publisher's example `index` of the event's data, with `changes` to fields of its schema
    (a name the schema does not have is an error: a renamed field shows here) and `extra` fields the
    publisher does not send (to show a reader ignores them). Give UUIDs and datetimes as objects or
    strings: they are written as JSON writes them."""
    data = examples(event_type)[index]
    fields = published(event_type)["schema"].get("properties", {})
    unknown = sorted(changes.keys() - fields.keys())
    if unknown:
        raise KeyError(f"{event_type} has no field {', '.join(unknown)} (docs/events)")
    return data | {name: _json(value) for name, value in changes.items()} | dict(extra or {})


def example_event(
    event_type: str,
    tenant_id: str,
    *,
    subject: str | uuid.UUID,
    time: datetime | None = None,
    event_id: uuid.UUID | None = None,
    index: int = 0,
    extra: Mapping[str, Any] | None = None,
    **changes: Any,
) -> Envelope:
    """The envelope of `example(...)` as its publisher sends it, in `tenant_id`, about `subject`."""
    entry = published(event_type)
    return Envelope(
        id=event_id or uuid.uuid4(),
        source=entry["source"],
        type=event_type,
        time=time or datetime.now(UTC),
        subject=str(subject),
        dataschema=entry["dataschema"],
        tenantid=tenant_id,
        data=example(event_type, index=index, extra=extra, **changes),
    )


def _json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _json(item) for key, item in value.items()}
    return value
