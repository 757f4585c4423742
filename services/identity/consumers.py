"""Identity's consumers: when an account last ordered (from ordering's events), for inactivity deletion."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, Field

from libs.common.consumer import HandlerTable, PermanentError
from libs.common.events import Envelope
from services.identity import store

log = structlog.get_logger(__name__)

ORDERS = "ordering.order.v1"
ORDER_CONFIRMED = "ordering.order.confirmed"


class OrderConfirmed(BaseModel):
    """Identity's own reading of ordering.order.confirmed (docs/contracts.md): who ordered, and when
    the order was confirmed (an order waiting for approval, or refused, does not count yet)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    order_id: uuid.UUID
    account_id: str = Field(min_length=1)
    confirmed_at: datetime


async def record_last_order(conn: asyncpg.Connection, event: Envelope) -> None:
    """Note the account's latest confirmed order: it keeps the account from the inactivity sweep. An order of
    an account identity does not know (deleted since, or never its) changes nothing."""
    order = OrderConfirmed.model_validate(event.data)
    if not event.tenantid:
        raise PermanentError("an order event without a tenant names no account")
    try:
        account_id = uuid.UUID(order.account_id)
    except ValueError:
        log.info("order of an account identity never issued", order_id=str(order.order_id))
        return
    if not await store.record_order(conn, event.tenantid, account_id, order.confirmed_at):
        log.info("order of an unknown account", order_id=str(order.order_id), account_id=order.account_id)


# The model each consumed event type is read with: producers' examples must satisfy it (tests/contracts).
READINGS: dict[str, type[BaseModel]] = {ORDER_CONFIRMED: OrderConfirmed}

HANDLERS: HandlerTable = {ORDERS: {ORDER_CONFIRMED: record_last_order}}
