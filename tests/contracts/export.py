"""Every service's published events, as committed in `docs/events/`: one JSON file per topic version.

`make contracts` (`python -m tests.contracts.export docs/events`) writes the folder from the
services' event catalogs: each event type's JSON Schema, its examples included. It refuses to
overwrite a committed topic version with a breaking change (see `breaking_changes`): such a change
is published on a new topic version instead. A development tool: production never imports it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from libs.common.events import EventCatalog
from libs.common.runtime import ServiceSpec
from services.catalog import app as catalog_app
from services.identity import app as identity_app
from services.loyalty import app as loyalty_app
from services.notify import app as notify_app
from services.ordering import app as ordering_app

SPECS: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        identity_app.build_spec(identity_app.Settings()),
        catalog_app.build_spec(catalog_app.Settings()),
        ordering_app.build_spec(ordering_app.Settings()),
        loyalty_app.build_spec(loyalty_app.Settings()),
        notify_app.build_spec(notify_app.Settings()),
    )
}
"""Every service composed with its default settings."""
FOLDER = Path(__file__).resolve().parents[2] / "docs" / "events"

Document = dict[str, Any]
"""One topic version's file: `{topic, internal, events: {event type: {source, dataschema, schema}}}`."""

# Keywords that explain a schema without constraining it: changing them never breaks a reader.
_DESCRIPTIVE = frozenset({"title", "description", "examples", "default"})


def documents(catalogs: Iterable[EventCatalog] | None = None) -> dict[str, Document]:
    """`{file name: document}` for every topic the catalogs publish on, events sorted by type."""
    if catalogs is None:
        catalogs = [spec.events for spec in SPECS.values()]
    found: dict[str, Document] = {}
    for catalog in catalogs:
        for event_type, model in catalog.events.items():
            topic = found.setdefault(
                f"{model.topic}.json", {"topic": model.topic, "internal": model.internal, "events": {}}
            )
            topic["events"][event_type] = {
                "source": catalog.source,
                "dataschema": model.dataschema(),
                "schema": model.model_json_schema(),
            }
    for topic in found.values():
        topic["events"] = dict(sorted(topic["events"].items()))
    return dict(sorted(found.items()))


def render(document: Document) -> str:
    """Pretty-printed, one key per line, so that a change reads as a small diff."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def committed(folder: Path = FOLDER) -> dict[str, Document]:
    """The documents of the committed folder, by file name."""
    return {path.name: json.loads(path.read_text("utf-8")) for path in sorted(folder.glob("*.json"))}


def stale_files(folder: Path = FOLDER) -> list[str]:
    """Files of the folder that differ from what `make contracts` would write, or are missing or extra."""
    current = {name: render(document) for name, document in documents().items()}
    on_disk = {path.name: path.read_text("utf-8") for path in folder.glob("*.json")}
    return sorted(name for name in current.keys() | on_disk.keys() if current.get(name) != on_disk.get(name))


def breaking_changes(old: Document, new: Document) -> list[str]:
    """What in `new` breaks readers of `old`, one topic version's documents (docs/contracts.md).

    A topic version may gain event types, optional fields, descriptions and examples; every event
    type and field it had stays, a field's requiredness stays, and so does everything else about its
    value: type, format, bounds, allowed values. A field is optional when it is not `required`.
    """
    problems = []
    for event_type, was in old["events"].items():
        now = new["events"].get(event_type)
        if now is None:
            problems.append(f"{event_type} is no longer published on {old['topic']}")
            continue
        problems += _schema_changes(event_type, was["schema"], was["schema"], now["schema"], now["schema"])
    return problems


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    target: Mapping[str, Any] = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return _resolve(target, root)


def _shape(schema: Any, root: Mapping[str, Any]) -> Any:
    """The schema with every reference inlined and its descriptive keywords dropped."""
    if isinstance(schema, list):
        return [_shape(item, root) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    shape: dict[str, Any] = {}
    for key, value in _resolve(schema, root).items():
        if key == "properties":  # field names, not keywords: none is dropped
            shape[key] = {name: _shape(field, root) for name, field in value.items()}
        elif key == "required":
            shape[key] = sorted(value)
        elif key not in _DESCRIPTIVE and key != "$defs":
            shape[key] = _shape(value, root)
    return shape


def _schema_changes(
    where: str,
    old: Mapping[str, Any],
    old_root: Mapping[str, Any],
    new: Mapping[str, Any],
    new_root: Mapping[str, Any],
) -> list[str]:
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    if "properties" in old and "properties" in new:
        problems = []
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        for name, was in old["properties"].items():
            field = f"{where}.{name}"
            if name not in new["properties"]:
                problems.append(f"{field} was removed")
                continue
            if (name in old_required) != (name in new_required):
                problems.append(f"{field} became {'required' if name in new_required else 'optional'}")
            problems += _schema_changes(field, was, old_root, new["properties"][name], new_root)
        for name in new["properties"].keys() - old["properties"].keys():
            if name in new_required:
                problems.append(f"{where}.{name} was added as a required field")
        rest_old = {k: v for k, v in _shape(old, old_root).items() if k not in ("properties", "required")}
        rest_new = {k: v for k, v in _shape(new, new_root).items() if k not in ("properties", "required")}
        if rest_old != rest_new:
            problems.append(f"{where} changed: {_difference(rest_old, rest_new)}")
        return problems
    if "items" in old and "items" in new:
        problems = _schema_changes(f"{where}[]", old["items"], old_root, new["items"], new_root)
        rest_old = {k: v for k, v in _shape(old, old_root).items() if k != "items"}
        rest_new = {k: v for k, v in _shape(new, new_root).items() if k != "items"}
        if rest_old != rest_new:
            problems.append(f"{where} changed: {_difference(rest_old, rest_new)}")
        return problems
    if _shape(old, old_root) != _shape(new, new_root):
        return [f"{where} changed: {_difference(_shape(old, old_root), _shape(new, new_root))}"]
    return []


def _difference(old: Any, new: Any) -> str:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        keys = sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))
        return ", ".join(f"{key} {json.dumps(old.get(key))} → {json.dumps(new.get(key))}" for key in keys)
    return f"{json.dumps(old)} → {json.dumps(new)}"


def export(folder: Path) -> list[str]:
    """Write the folder; answer the breaking changes that stopped it (nothing is written then)."""
    new = documents()
    old = committed(folder) if folder.is_dir() else {}
    problems = [
        f"{name}: {problem}"
        for name in sorted(old.keys() & new.keys())
        for problem in breaking_changes(old[name], new[name])
    ]
    if problems:
        return problems
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.glob("*.json"):
        if path.name not in new:
            path.unlink()
    for name, document in new.items():
        path = folder / name
        text = render(document)
        if not path.is_file() or path.read_text("utf-8") != text:
            path.write_text(text, "utf-8")
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("folder", type=Path, nargs="?", default=FOLDER)
    args = parser.parse_args(argv)
    problems = export(args.folder)
    if problems:
        print("Breaking changes to committed topic versions; nothing was written:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        print(
            "Publish the changed event on a new topic version (<service>.<aggregate>.v<N+1>) instead,"
            " see docs/contracts.md.",
            file=sys.stderr,
        )
        return 1
    print(f"{len(documents())} topic versions in {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
