"""What catalog publishes, checked without the stack: the contract's fields, described for partners."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from libs.common.events import envelope
from services.catalog.app import SPEC
from services.catalog.domain import Product
from services.catalog.events import ProductCreated, ProductUpdated

# docs/contracts.md: catalog.product.v1 carries the full state of the product.
CONTRACT_FIELDS = ["product_id", "code", "name", "price_minor", "currency", "active", "version"]


def a_product(version: int = 1) -> Product:
    now = datetime.now(UTC)
    return Product(
        id=uuid.uuid4(),
        tenant_id="brand-a",
        code="Mug-1",
        name="Mug",
        price_minor=1250,
        currency="EUR",
        active=True,
        version=version,
        created_at=now,
        updated_at=now,
    )


def test_the_catalog_publishes_created_and_updated_on_the_public_product_topic() -> None:
    schemas = SPEC.events.json_schemas()

    assert sorted(schemas) == ["catalog.product.created", "catalog.product.updated"]
    for entry in schemas.values():
        assert entry["topic"] == "catalog.product.v1"
        assert entry["internal"] is False
    assert SPEC.topics == ["catalog.product.v1"]


def test_every_field_of_the_exported_schemas_is_described_and_required() -> None:
    for event_type, entry in SPEC.events.json_schemas().items():
        schema: dict[str, Any] = entry["schema"]
        assert schema.get("description"), event_type
        assert list(schema["properties"]) == CONTRACT_FIELDS, event_type
        assert schema["required"] == CONTRACT_FIELDS, event_type
        for name, field in schema["properties"].items():
            assert field.get("description"), f"{event_type}.{name} has no description"


def test_an_event_carries_the_products_full_state_keyed_by_its_id() -> None:
    product = a_product(version=3)

    event = envelope("catalog", ProductUpdated.of(product), subject=str(product.id), tenant_id="brand-a")

    assert event.type == "catalog.product.updated"
    assert event.subject == str(product.id)
    assert event.data == {
        "product_id": str(product.id),
        "code": "Mug-1",
        "name": "Mug",
        "price_minor": 1250,
        "currency": "EUR",
        "active": True,
        "version": 3,
    }
    assert ProductCreated.of(a_product()).model_dump(mode="json").keys() == set(CONTRACT_FIELDS)
