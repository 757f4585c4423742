"""`docs/events/` is what the services publish, and a committed topic version only changes compatibly.

The folder is written by `make contracts`; a schema change without it leaves the folder stale, and
a change that would break readers of a committed topic version must go to a new topic version.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.contracts.export import FOLDER, breaking_changes, committed, documents, stale_files


def test_the_committed_folder_is_what_make_contracts_writes() -> None:
    stale = stale_files()
    assert not stale, f"docs/events is stale ({', '.join(stale)}): run `make contracts` and commit it"


@pytest.mark.parametrize("name", sorted(documents()))
def test_no_committed_topic_version_is_broken(name: str) -> None:
    old = committed(FOLDER).get(name)
    if old is None:
        pytest.skip(f"{name} is new: nothing committed to compare with")
    problems = breaking_changes(old, documents()[name])
    assert not problems, f"{name}: publish on a new topic version instead: {problems}"


# The compatibility rule, on a copy of the committed ordering.order.v1 document.


@pytest.fixture
def orders() -> dict[str, Any]:
    return copy.deepcopy(documents()["ordering.order.v1.json"])


def _schema(document: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = document["events"]["ordering.order.submitted"]["schema"]
    return schema


def test_adding_an_optional_field_or_an_event_type_or_rewording_is_compatible(orders: dict[str, Any]) -> None:
    new = copy.deepcopy(orders)
    _schema(new)["properties"]["channel"] = {"type": "string", "description": "web or app"}
    _schema(new)["$defs"]["SubmittedLine"]["properties"]["discount_minor"] = {"type": "integer"}
    _schema(new)["properties"]["total_minor"]["description"] = "Reworded"
    _schema(new)["examples"] = []
    new["events"]["ordering.order.returned"] = copy.deepcopy(new["events"]["ordering.order.submitted"])
    assert breaking_changes(orders, new) == []


def test_removing_a_field_is_breaking(orders: dict[str, Any]) -> None:
    new = copy.deepcopy(orders)
    del _schema(new)["properties"]["currency"]
    _schema(new)["required"].remove("currency")
    assert breaking_changes(orders, new) == ["ordering.order.submitted.currency was removed"]


def test_removing_a_field_of_a_nested_object_is_breaking(orders: dict[str, Any]) -> None:
    new = copy.deepcopy(orders)
    del _schema(new)["$defs"]["SubmittedLine"]["properties"]["price_list_id"]
    assert breaking_changes(orders, new) == ["ordering.order.submitted.lines[].price_list_id was removed"]


def test_making_an_optional_field_required_or_adding_a_required_one_is_breaking(
    orders: dict[str, Any],
) -> None:
    new = copy.deepcopy(orders)
    _schema(new)["$defs"]["SubmittedLine"]["required"].append("price_list_id")
    _schema(new)["properties"]["channel"] = {"type": "string"}
    _schema(new)["required"].append("channel")
    assert breaking_changes(orders, new) == [
        "ordering.order.submitted.lines[].price_list_id became required",
        "ordering.order.submitted.channel was added as a required field",
    ]


def test_a_required_field_becoming_optional_is_breaking(orders: dict[str, Any]) -> None:
    new = copy.deepcopy(orders)
    _schema(new)["required"].remove("submitted_at")
    assert breaking_changes(orders, new) == ["ordering.order.submitted.submitted_at became optional"]


def test_changing_a_type_a_format_or_a_bound_is_breaking(orders: dict[str, Any]) -> None:
    new = copy.deepcopy(orders)
    _schema(new)["properties"]["total_minor"]["type"] = "string"
    _schema(new)["properties"]["order_id"].pop("format")
    _schema(new)["$defs"]["SubmittedLine"]["properties"]["quantity"]["maximum"] = 10
    assert breaking_changes(orders, new) == [
        'ordering.order.submitted.order_id changed: format "uuid" → null',
        "ordering.order.submitted.lines[].quantity changed: maximum 100000 → 10",
        'ordering.order.submitted.total_minor changed: type "integer" → "string"',
    ]


def test_no_longer_publishing_an_event_type_is_breaking(orders: dict[str, Any]) -> None:
    new = copy.deepcopy(orders)
    del new["events"]["ordering.order.submitted"]
    assert breaking_changes(orders, new) == [
        "ordering.order.submitted is no longer published on ordering.order.v1"
    ]
