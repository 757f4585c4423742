"""The price list's JSON Schema states the rules between its fields that the model enforces."""

from __future__ import annotations

import uuid
from typing import Any

import jsonschema_rs
import pytest
from pydantic import ValidationError

from services.catalog.domain import PriceListDetails

pytestmark = pytest.mark.fast

GROUP, ORGANISATION = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.mark.parametrize(
    "fields",
    [
        {"scope": "brand"},
        {"scope": "brand", "group_id": None, "organisation_id": None},
        {"scope": "brand", "group_id": GROUP},
        {"scope": "brand", "organisation_id": ORGANISATION},
        {"scope": "group", "group_id": GROUP},
        {"scope": "group"},
        {"scope": "group", "group_id": None},
        {"scope": "group", "group_id": GROUP, "organisation_id": ORGANISATION},
        {"scope": "organisation", "organisation_id": ORGANISATION},
        {"scope": "organisation"},
        {"scope": "organisation", "organisation_id": ORGANISATION, "group_id": GROUP},
    ],
)
def test_the_schema_accepts_exactly_the_scopes_the_model_accepts(fields: dict[str, Any]) -> None:
    body = {"name": "2025", "brand_id": str(uuid.uuid4()), "currency": "EUR", "prices": []} | fields
    try:
        PriceListDetails.model_validate(body)
        accepted = True
    except ValidationError:
        accepted = False
    assert jsonschema_rs.validator_for(PriceListDetails.model_json_schema()).is_valid(body) is accepted
