"""Loyalty's consumers: credit a member's points for each order they submit, once per order."""

from __future__ import annotations

import uuid

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, Field

from libs.common import outbox
from libs.common.consumer import HandlerTable, PermanentError
from libs.common.events import Envelope, envelope
from services.loyalty import store
from services.loyalty.domain import MAX_POINTS, points_for_order
from services.loyalty.events import SERVICE, PointsAwarded

log = structlog.get_logger(__name__)

ORDERS = "ordering.order.v1"
ORDER_SUBMITTED = "ordering.order.submitted"
ORDER_CAUSE = "order"


class OrderSubmitted(BaseModel):
    """Loyalty's own reading of ordering.order.submitted (docs/contracts.md): what points depend on."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    order_id: uuid.UUID
    account_id: str = Field(min_length=1)
    total_minor: int = Field(ge=0)


async def award_points_for_order(
    conn: asyncpg.Connection, event: Envelope, *, default_points_per_unit: int
) -> None:
    """Credit the order's points to its submitter under the tenant's rule, and announce them.

    A malformed payload raises ValidationError, which the consumer dead-letters at once. A second
    event for an order already credited (replayed under a new id) changes nothing.
    """
    order = OrderSubmitted.model_validate(event.data)
    tenant_id = event.tenantid
    if not tenant_id:
        raise PermanentError("an order event without a tenant cannot be credited to anyone")
    rule = await store.earning_rule(conn, tenant_id)
    points = points_for_order(order.total_minor, rule.points_per_unit if rule else default_points_per_unit)
    cause_id = str(order.order_id)
    if points == 0:
        log.info("order earns no points", order_id=cause_id, total_minor=order.total_minor)
        return
    if points > MAX_POINTS:
        raise PermanentError(f"order {cause_id} would earn {points} points, more than a balance can hold")
    entry = await store.post_entry(conn, tenant_id, order.account_id, "earn", points, ORDER_CAUSE, cause_id)
    if entry is None:
        log.info("order already credited", order_id=cause_id, event_id=str(event.id))
        return
    awarded = PointsAwarded(
        account_id=entry.account_id,
        entry_id=entry.entry_id,
        points=entry.points,
        balance=entry.balance,
        cause_type=entry.cause_type,
        cause_id=entry.cause_id,
        awarded_at=entry.created_at,
    )
    await outbox.append(
        conn, PointsAwarded.topic, envelope(SERVICE, awarded, subject=entry.account_id, tenant_id=tenant_id)
    )
    log.info("points awarded", order_id=cause_id, points=points, balance=entry.balance)


def handlers(default_points_per_unit: int) -> HandlerTable:
    """What loyalty consumes; tenants without a rule of their own earn `default_points_per_unit`."""

    async def award_order_points(conn: asyncpg.Connection, event: Envelope) -> None:
        await award_points_for_order(conn, event, default_points_per_unit=default_points_per_unit)

    return {ORDERS: {ORDER_SUBMITTED: award_order_points}}
