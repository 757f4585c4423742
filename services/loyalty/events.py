"""Events loyalty publishes (docs/contracts.md): their JSON Schemas are generated from these models."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from libs.common.events import IntegrationEvent

SERVICE = "loyalty"


class PointsAwarded(IntegrationEvent):
    """A member earned points: the ledger entry is written and the balance includes it."""

    event_type = "loyalty.points.awarded"
    topic = "loyalty.points.v1"

    account_id: str = Field(
        description="The member who earned the points (identity's account id); also the subject and Kafka key"
    )
    entry_id: uuid.UUID = Field(description="The ledger entry that credited the points")
    points: int = Field(gt=0, description="How many points were credited")
    balance: int = Field(description="The member's balance right after this entry")
    cause_type: str = Field(description='What earned the points: "order"')
    cause_id: str = Field(description="Which one: the order id for an order")
    awarded_at: datetime = Field(description="When the points were credited (UTC)")
