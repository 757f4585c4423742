"""Bodies that more than one of catalog's route modules answers with (route modules never import
each other: what they share lives here or in `access`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import ConfigDict, Field

from services.catalog.domain import PriceList, PriceListDetails


class PriceListView(PriceListDetails):
    """A price list as stored, prices included."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: uuid.UUID = Field(description="The list's id")
    active: bool = Field(description="False once withdrawn: it applies no more")
    version: int = Field(description="1 on creation, +1 on each change")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, price_list: PriceList) -> PriceListView:
        return cls.model_validate(price_list.model_dump())
