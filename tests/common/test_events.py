"""The CloudEvents envelope and a service's event catalog."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import structlog
from pydantic import Field

from libs.common.events import Envelope, EventCatalog, IntegrationEvent, envelope, naming_problems
from libs.common.logging import bind_correlation

pytestmark = pytest.mark.fast


class PointsAwarded(IntegrationEvent):
    """Points were added to a member's account."""

    event_type = "loyalty.points.awarded"
    topic = "loyalty.points.v1"

    member_id: str = Field(description="The member credited")
    points: int = Field(description="Points added, positive")


def test_envelope_carries_the_cloudevents_attributes_and_the_context_ids() -> None:
    structlog.contextvars.clear_contextvars()
    bind_correlation("corr-1", "cause-1")
    event = envelope("loyalty", PointsAwarded(member_id="m1", points=10), subject="m1", tenant_id="brand-a")

    wire = event.model_dump(mode="json", exclude_none=True)
    assert wire["specversion"] == "1.0"
    assert wire["type"] == "loyalty.points.awarded"
    assert wire["source"] == "loyalty"
    assert wire["subject"] == "m1"
    assert wire["dataschema"] == "urn:comptoir:event:loyalty.points.awarded:v1"
    assert wire["tenantid"] == "brand-a"
    assert (wire["correlationid"], wire["causationid"]) == ("corr-1", "cause-1")
    assert wire["data"] == {"member_id": "m1", "points": 10}
    structlog.contextvars.clear_contextvars()


def test_consumers_read_envelopes_tolerantly() -> None:
    raw = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "loyalty",
        "type": "loyalty.points.awarded",
        "time": datetime.now(UTC).isoformat(),
        "subject": "m1",
        "dataschema": "urn:comptoir:event:loyalty.points.awarded:v1",
        "tenantid": "brand-a",
        "data": {"member_id": "m1", "points": 10, "added_later": True},
        "someextension": "ignored",
    }
    assert Envelope.model_validate(raw).data["added_later"] is True


def test_published_events_refuse_unknown_fields() -> None:
    with pytest.raises(ValueError):
        PointsAwarded(member_id="m1", points=1, typo=2)  # type: ignore[call-arg]


def test_catalog_exports_json_schemas_with_field_descriptions() -> None:
    catalog = EventCatalog("loyalty", [PointsAwarded])
    schemas = catalog.json_schemas()

    entry = schemas["loyalty.points.awarded"]
    assert entry["topic"] == "loyalty.points.v1"
    assert entry["internal"] is False
    assert entry["schema"]["properties"]["points"]["description"] == "Points added, positive"
    assert entry["schema"]["required"] == ["member_id", "points"]
    assert catalog.topics == ["loyalty.points.v1"]


def test_catalog_refuses_events_named_after_another_service() -> None:
    with pytest.raises(ValueError, match="must start with its service"):
        EventCatalog("ordering", [PointsAwarded])


def test_catalog_refuses_an_event_type_registered_twice() -> None:
    with pytest.raises(ValueError, match="twice"):
        EventCatalog("loyalty", [PointsAwarded, PointsAwarded])


@pytest.mark.parametrize(
    ("event_type", "topic", "internal"),
    [
        ("identity.account.membership_changed", "identity.account.v1", False),
        ("identity.activation.code_requested", "internal.notify.requests.v1", True),
        ("identity.session.revoked", "internal.identity.session.v1", True),
        ("identity.organisation.created", "identity.organisation.v1", False),
        ("identity.message.sent", "identity.message.v2", False),
        ("identity.account.held_for_review", "identity.account.v1", False),
    ],
)
def test_well_named_events_pass_the_naming_rules(event_type: str, topic: str, internal: bool) -> None:
    assert naming_problems("identity", event_type, topic, internal) == []


@pytest.mark.parametrize(
    ("event_type", "topic", "internal", "problem"),
    [
        ("identity.account.membership.changed", "identity.account.v1", False, "three snake_case segments"),
        ("identity.price-list.changed", "identity.account.v1", False, "three snake_case segments"),
        ("identity.Account.changed", "identity.account.v1", False, "three snake_case segments"),
        ("identity.account.change", "identity.account.v1", False, "past tense"),
        ("identity.account.hold_for_review", "identity.account.v1", False, "past tense"),
        ("catalog.account.changed", "identity.account.v1", False, "start with its service"),
        ("identity.account.changed", "catalog.account.v1", False, "start with its service"),
        ("identity.contact.changed", "identity.contact.v1", True, "must start with 'internal.'"),
        (
            "identity.contact.changed",
            "internal.identity.contact.v1",
            False,
            "must not start with 'internal.'",
        ),
        ("identity.account.changed", "identity.account", False, "<service>.<aggregate>.v<N>"),
    ],
)
def test_badly_named_events_are_refused(event_type: str, topic: str, internal: bool, problem: str) -> None:
    problems = naming_problems("identity", event_type, topic, internal)
    assert any(problem in p for p in problems), problems
