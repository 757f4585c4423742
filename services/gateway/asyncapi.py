"""An AsyncAPI 3.0 document built from the event catalogs the services publish about themselves."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_ENVELOPE_FIELDS: dict[str, Any] = {
    "specversion": {"type": "string", "const": "1.0"},
    "id": {"type": "string", "format": "uuid", "description": "Unique event id; consumers deduplicate on it"},
    "source": {"type": "string", "description": "The publishing service"},
    "type": {"type": "string"},
    "time": {"type": "string", "format": "date-time"},
    "subject": {"type": "string", "description": "Aggregate id, also the Kafka message key"},
    "dataschema": {"type": "string"},
    "datacontenttype": {"type": "string", "const": "application/json"},
    "tenantid": {"type": "string", "description": "The tenant (brand) the event belongs to"},
    "correlationid": {"type": "string"},
    "causationid": {"type": "string"},
}


def _key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _hoist_defs(schema: Mapping[str, Any], into: dict[str, Any]) -> dict[str, Any]:
    """Move pydantic's local `$defs` into components.schemas and point the refs there."""
    schema = dict(schema)
    for name, sub in schema.pop("$defs", {}).items():
        into[name] = sub
    text = json.dumps(schema).replace('"#/$defs/', '"#/components/schemas/')
    into_text = json.dumps(into).replace('"#/$defs/', '"#/components/schemas/')
    into.clear()
    into.update(json.loads(into_text))
    result: dict[str, Any] = json.loads(text)
    return result


def asyncapi_document(catalogs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """`catalogs` is `{service: {event type: {topic, version, internal, dataschema, schema}}}`."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for service, events in sorted(catalogs.items()):
        for event_type, entry in sorted(events.items()):
            channel_id = _key(entry["topic"])
            message_id = _key(event_type)
            channel = channels.setdefault(
                channel_id,
                {
                    "address": entry["topic"],
                    "messages": {},
                    "description": "Internal: never granted to partners" if entry["internal"] else "Public",
                    "x-internal": bool(entry["internal"]),
                },
            )
            channel["messages"][message_id] = {"$ref": f"#/components/messages/{message_id}"}
            data = _hoist_defs(entry["schema"], schemas)
            messages[message_id] = {
                "name": event_type,
                "title": data.get("title", event_type),
                "summary": data.get("description", ""),
                "contentType": "application/cloudevents+json",
                "payload": {
                    "type": "object",
                    "required": [
                        "specversion",
                        "id",
                        "source",
                        "type",
                        "time",
                        "subject",
                        "tenantid",
                        "data",
                    ],
                    "properties": {**_ENVELOPE_FIELDS, "data": data},
                },
                "x-dataschema": entry["dataschema"],
                "x-publisher": service,
            }
            operations[f"publish_{message_id}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{message_id}"}],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Comptoir events",
            "version": "1",
            "description": "CloudEvents published on Kafka, keyed by aggregate id. Topics named *.v<N> "
            "change version only on breaking changes.",
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
