"""Every service's event catalog follows the naming rules, and internal topics stay internal.

Types are `<service>.<aggregate>.<verb>` (three snake_case segments, the verb in the past tense);
topics only the platform's own services read (personal data, secrets, one consumer's requests,
dead letters, the relay's markers) start with `internal.`, which a broker ACL excludes by prefix.
"""

from __future__ import annotations

import pytest

from libs.common.events import is_internal_topic, naming_problems
from libs.common.kafka import dlq_topic
from libs.common.outbox import RelayConfig
from libs.common.runtime import ServiceSpec
from tests.contracts.export import SPECS

pytestmark = pytest.mark.fast

PUBLISHED = {event_type: model for spec in SPECS.values() for event_type, model in spec.events.events.items()}


@pytest.mark.parametrize("event_type", sorted(PUBLISHED))
def test_each_event_type_is_service_aggregate_past_tense_on_a_well_named_topic(event_type: str) -> None:
    model = PUBLISHED[event_type]
    source = event_type.split(".")[0]
    assert naming_problems(source, model.event_type, model.topic, model.internal) == []


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_service_creates_no_public_topic_but_those_of_its_cloudevents(name: str) -> None:
    spec: ServiceSpec = SPECS[name]
    public = {model.topic for model in spec.events.events.values() if not model.internal}
    assert {topic for topic in spec.topics if not is_internal_topic(topic)} == public
    assert all(is_internal_topic(dlq_topic(topic)) for topic in spec.handlers)
    marker = RelayConfig(service=name, schema=name, bootstrap_servers="", topic_prefix="t_1.").marker_topic
    assert marker.startswith("t_1.internal.")


@pytest.mark.parametrize("name", sorted(SPECS))
def test_consumers_read_topics_and_types_that_a_service_publishes(name: str) -> None:
    published = {(model.topic, event_type) for event_type, model in PUBLISHED.items()}
    consumed = {(topic, event_type) for topic, types in SPECS[name].handlers.items() for event_type in types}
    assert consumed - published == set()


def test_the_contact_data_and_the_message_requests_are_internal() -> None:
    assert PUBLISHED["identity.contact.changed"].topic == "internal.identity.contact.v1"
    assert {PUBLISHED[t].topic for t in PUBLISHED if t.endswith("requested")} == {
        "internal.notify.requests.v1"
    }
