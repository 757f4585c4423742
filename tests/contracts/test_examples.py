"""Contracts by example: every published event shows examples, and every consumer reads them.

Each publisher gives examples of each event it publishes (in its model, hence in its JSON Schema and
in `docs/events/`); each consumer declares the model it reads each consumed event type with
(`READINGS` in its `consumers.py`). An example that its own model refuses, or that a consumer's
reading refuses, fails here: the publisher changed what it sends, or the consumer expects more than
is sent.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from libs.common.events import IntegrationEvent
from tests.contracts.examples import example, examples
from tests.contracts.export import SPECS

PUBLISHED: dict[str, type[IntegrationEvent]] = {
    event_type: model for spec in SPECS.values() for event_type, model in spec.events.events.items()
}


def readings(service: str) -> dict[str, type[BaseModel]]:
    return dict(importlib.import_module(f"services.{service}.consumers").READINGS)


CONSUMED = sorted(
    (service, event_type)
    for service, spec in SPECS.items()
    for types in spec.handlers.values()
    for event_type in types
)


@pytest.mark.parametrize("event_type", sorted(PUBLISHED))
def test_every_published_event_has_an_example_that_is_exactly_what_its_model_sends(event_type: str) -> None:
    model = PUBLISHED[event_type]
    shown = model.model_json_schema().get("examples", [])
    assert shown, f"{model.__name__} shows no example: give it model_config = examples({{...}})"
    for payload in shown:
        sent = model.model_validate_json(json.dumps(payload))  # as a consumer receives it
        assert sent.model_dump(mode="json") == payload, "an example holds every field, as the model writes it"


@pytest.mark.parametrize("event_type", sorted(PUBLISHED))
def test_the_committed_examples_are_the_models(event_type: str) -> None:
    assert examples(event_type) == PUBLISHED[event_type].model_json_schema()["examples"], "make contracts"


@pytest.mark.parametrize("service", sorted(SPECS))
def test_each_consumer_declares_the_reading_of_every_event_type_it_handles(service: str) -> None:
    handled = {event_type for types in SPECS[service].handlers.values() for event_type in types}
    assert set(readings(service)) == handled


@pytest.mark.parametrize(("service", "event_type"), CONSUMED)
def test_the_consumers_reading_accepts_every_example_of_the_publisher(service: str, event_type: str) -> None:
    reading = readings(service)[event_type]
    for index, payload in enumerate(examples(event_type)):
        try:
            reading.model_validate(payload)  # as the handler reads `event.data`
        except ValidationError as exc:
            pytest.fail(f"{service} cannot read example {index} of {event_type}:\n{exc}")


def test_a_reading_that_expects_more_than_is_sent_fails() -> None:
    """The check above can fail: a consumer needing a field the publisher never sends."""

    class Greedy(BaseModel):
        order_id: str
        loyalty_tier: str

    sent: dict[str, Any] = examples("ordering.order.submitted")[0]
    with pytest.raises(ValidationError, match="loyalty_tier"):
        Greedy.model_validate(sent)


def test_a_consumers_test_cannot_vary_a_field_the_publisher_does_not_send() -> None:
    """A field renamed by its publisher shows in the consumers' tests that set it."""
    assert example("ordering.order.submitted", total_minor=500)["total_minor"] == 500
    with pytest.raises(KeyError, match="total_cents"):
        example("ordering.order.submitted", total_cents=500)
    assert example("ordering.order.submitted", extra={"channel": "web"})["channel"] == "web"
