"""What catalog publishes, checked without the stack: the contract's fields, described for partners."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from libs.common.events import envelope
from services.catalog.app import Settings, build_spec
from services.catalog.domain import OrganisationTerms, PriceEntry, PriceList, Product
from services.catalog.events import OrganisationTermsChanged, PriceListChanged, ProductCreated, ProductUpdated

SPEC = build_spec(Settings())

pytestmark = pytest.mark.fast

# docs/contracts.md: each event carries the full state of its aggregate.
CONTRACT_FIELDS = {
    "catalog.product.created": [
        "product_id",
        "code",
        "name",
        "price_minor",
        "currency",
        "active",
        "version",
        "brand_id",
        "vat_rate_bp",
        "status",
    ],
    "catalog.price_list.changed": [
        "price_list_id",
        "name",
        "scope",
        "brand_id",
        "group_id",
        "organisation_id",
        "currency",
        "valid_from",
        "valid_until",
        "prices",
        "active",
        "version",
    ],
    "catalog.organisation.terms_changed": [
        "organisation_id",
        "group_id",
        "assortment",
        "entitlements",
        "version",
    ],
    "catalog.settings.changed": ["seller_discount_bp", "version", "changed_at"],
    "catalog.category.changed": ["category_id", "parent_id", "names", "version"],
    "catalog.category.deleted": ["category_id"],
}
CONTRACT_FIELDS["catalog.product.updated"] = CONTRACT_FIELDS["catalog.product.created"]
# Fields added to a committed topic version after it was published: optional, so old records stay valid.
ADDED_LATER = {"catalog.product.created": ["category_id"], "catalog.product.updated": ["category_id"]}
TOPICS = {
    "catalog.product.created": "catalog.product.v1",
    "catalog.product.updated": "catalog.product.v1",
    "catalog.price_list.changed": "catalog.price_list.v1",
    "catalog.organisation.terms_changed": "catalog.organisation.v1",
    "catalog.settings.changed": "catalog.settings.v1",
    "catalog.category.changed": "catalog.category.v1",
    "catalog.category.deleted": "catalog.category.v1",
}


def a_product(version: int = 1, **fields: Any) -> Product:
    now = datetime.now(UTC)
    state: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tenant_id": "brand-a",
        "code": "Mug-1",
        "name": "Mug",
        "price_minor": 1250,
        "currency": "EUR",
        "active": True,
        "version": version,
        "created_at": now,
        "updated_at": now,
    }
    return Product.model_validate({**state, **fields})


def test_the_catalog_publishes_its_events_on_public_topics() -> None:
    schemas = SPEC.events.json_schemas()

    assert {name: entry["topic"] for name, entry in schemas.items()} == TOPICS
    assert not any(entry["internal"] for entry in schemas.values())
    assert SPEC.events.topics == [
        "catalog.category.v1",
        "catalog.organisation.v1",
        "catalog.price_list.v1",
        "catalog.product.v1",
        "catalog.settings.v1",
    ]


def test_every_field_of_the_exported_schemas_is_described_and_required() -> None:
    for event_type, entry in SPEC.events.json_schemas().items():
        schema: dict[str, Any] = entry["schema"]
        assert schema.get("description"), event_type
        later = ADDED_LATER.get(event_type, [])
        assert list(schema["properties"]) == CONTRACT_FIELDS[event_type] + later, event_type
        assert schema["required"] == CONTRACT_FIELDS[event_type], event_type
        for name, field in schema["properties"].items():
            assert field.get("description"), f"{event_type}.{name} has no description"


def test_a_product_event_carries_its_full_state_keyed_by_its_id() -> None:
    brand = uuid.uuid4()
    product = a_product(version=3, active=False, brand_id=brand, vat_rate_bp=550)

    event = envelope("catalog", ProductUpdated.of(product), subject=str(product.id), tenant_id="brand-a")

    assert event.type == "catalog.product.updated"
    assert event.subject == str(product.id)
    assert event.data == {
        "product_id": str(product.id),
        "code": "Mug-1",
        "name": "Mug",
        "price_minor": 1250,
        "currency": "EUR",
        "active": False,
        "version": 3,
        "brand_id": str(brand),
        "vat_rate_bp": 550,
        "status": "retired",
        "category_id": None,
    }
    assert ProductCreated.of(a_product()).model_dump(mode="json")["status"] == "active"


def test_a_price_list_event_carries_the_whole_list_in_utc() -> None:
    now = datetime.now(UTC)
    product, brand, group = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    price_list = PriceList(
        id=uuid.uuid4(),
        tenant_id="brand-a",
        name="Pharmacies 2025",
        scope="group",
        brand_id=brand,
        group_id=group,
        currency="EUR",
        valid_from=datetime(2025, 1, 1, tzinfo=UTC),
        valid_until=None,
        prices=[PriceEntry(product_id=product, price_minor=990)],
        active=True,
        version=2,
        created_at=now,
        updated_at=now,
    )

    data = PriceListChanged.of(price_list).model_dump(mode="json")

    assert data == {
        "price_list_id": str(price_list.id),
        "name": "Pharmacies 2025",
        "scope": "group",
        "brand_id": str(brand),
        "group_id": str(group),
        "organisation_id": None,
        "currency": "EUR",
        "valid_from": "2025-01-01T00:00:00Z",
        "valid_until": None,
        "prices": [{"product_id": str(product), "price_minor": 990}],
        "active": True,
        "version": 2,
    }


def test_a_terms_event_says_null_for_an_unrestricted_assortment() -> None:
    organisation = uuid.uuid4()
    terms = OrganisationTerms(organisation_id=organisation, entitlements=["ecommerce"], version=1)

    data = OrganisationTermsChanged.of(terms).model_dump(mode="json")

    assert data == {
        "organisation_id": str(organisation),
        "group_id": None,
        "assortment": None,
        "entitlements": ["ecommerce"],
        "version": 1,
    }
