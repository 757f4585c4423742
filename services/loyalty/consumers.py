"""Loyalty's consumers: credit a member's points for each order of theirs confirmed, once per order,
take them back when the order is cancelled, and their share when goods come back; close a deleted
member's account, forfeiting what is left on it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.common import erasure, outbox
from libs.common.consumer import HandlerTable, PermanentError
from libs.common.events import Envelope
from libs.common.limits import MAX_BALANCE, MAX_ENTRY_POINTS, MAX_ORDER_TOTAL_MINOR
from services.loyalty import counter, directory, reservations, sponsors, store
from services.loyalty.domain import RuleApplied, forfeit_points, points_for_order, returned_share, reversal
from services.loyalty.events import REQUESTS_TOPIC, SERVICE, PointsAwarded, PointsForfeited, PointsReversed

log = structlog.get_logger(__name__)

ORDERS = "ordering.order.v1"
ORDER_CONFIRMED = "ordering.order.confirmed"
ORDER_CANCELLED = "ordering.order.cancelled"
ORDER_PAYMENT_REFUSED = "ordering.order.payment_refused"  # a confirmed order cancelled so, for one
ORDER_CAUSE = "order"
CANCELLATION_CAUSE = "order-cancelled"
RETURNS = "ordering.return.v1"
RETURN_ACCEPTED = "ordering.return.accepted"
RETURN_CAUSE = "order-returned"
ACCOUNTS = "identity.account.v1"
ACCOUNT_DELETED = "identity.account.deleted"
DELETION_CAUSE = "account-deletion"


class EligibleAmount(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    eligible_minor: int = Field(ge=0, le=MAX_ORDER_TOTAL_MINOR)


class OrderConfirmed(BaseModel):
    """Loyalty's own reading of ordering.order.confirmed (docs/contracts.md): points are earned on
    the order's eligible amount once it is confirmed (not while it waits for approval)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    order_id: uuid.UUID
    account_id: str = Field(min_length=1)
    totals: EligibleAmount


class OrderCancelled(BaseModel):
    """Loyalty's own reading of ordering.order.cancelled and payment_refused: which order's points
    to take back."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    order_id: uuid.UUID


class ReturnAccepted(BaseModel):
    """Loyalty's own reading of ordering.return.accepted: which order, and what share came back."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    return_id: uuid.UUID
    order_id: uuid.UUID
    returned_goods_minor: int = Field(ge=0, le=MAX_ORDER_TOTAL_MINOR)
    order_goods_minor: int = Field(ge=0, le=MAX_ORDER_TOTAL_MINOR)


class AccountDeleted(BaseModel):
    """Loyalty's own reading of identity.account.deleted: whose points account to close, and when."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    account_id: str = Field(min_length=1)
    reason: str | None = None  # closed or inactive: logged, it changes nothing here
    deleted_at: datetime

    @field_validator("deleted_at")
    @classmethod
    def _in_utc(cls, at: datetime) -> datetime:
        # Times are UTC here (docs/contracts.md): a time without an offset is read as UTC.
        return at if at.tzinfo else at.replace(tzinfo=UTC)


def _tenant(event: Envelope) -> str:
    if not event.tenantid:
        raise PermanentError(f"a {event.type} event without a tenant names no member")
    return event.tenantid


async def award_points_for_order(
    conn: asyncpg.Connection, event: Envelope, *, default_points_per_unit: int
) -> None:
    """Credit the order's points to its submitter under the tenant's rule, and announce them.

    A malformed payload raises ValidationError, which the consumer dead-letters at once. A second
    event for an order already credited (replayed under a new id) changes nothing.
    """
    order = OrderConfirmed.model_validate(event.data)
    tenant_id = _tenant(event)
    await sponsors.award(conn, tenant_id, str(order.order_id), order.account_id, order.totals.eligible_minor)
    rule = await store.earning_rule(conn, tenant_id)
    points = points_for_order(
        order.totals.eligible_minor, rule.points_per_unit if rule else default_points_per_unit
    )
    cause_id = str(order.order_id)
    if points == 0:
        log.info("order earns no points", order_id=cause_id, eligible_minor=order.totals.eligible_minor)
        return
    if points > MAX_ENTRY_POINTS:
        raise PermanentError(f"order {cause_id} would earn {points} points, more than {MAX_ENTRY_POINTS}")
    account = await store.open_account(conn, tenant_id, order.account_id)
    if account.closed:
        # The member's identity account was deleted (perhaps while this order was on its way).
        log.info("closed account earns nothing", order_id=cause_id)
        return
    if account.balance + points > MAX_BALANCE:
        # Parked in the dead-letter topic, where an operator sees it, rather than credited in part.
        raise PermanentError(f"order {cause_id} would bring the balance over {MAX_BALANCE} points")
    applied = RuleApplied(rule_id=None, version=rule.version if rule else 0, points=points)
    entry = await store.post_entry(
        conn, tenant_id, order.account_id, "earn", points, ORDER_CAUSE, cause_id, rules=[applied]
    )
    if entry is None:
        log.info("order already credited", order_id=cause_id, event_id=str(event.id))
        return
    await outbox.publish(
        conn, SERVICE, PointsAwarded.of(entry), subject=entry.account_id, tenant_id=tenant_id
    )
    log.info("points awarded", order_id=cause_id, points=points, balance=entry.balance)


async def reverse_points_for_order(conn: asyncpg.Connection, event: Envelope) -> None:
    """Take back what a cancelled order earned (one refused for its payment earned nothing, unless it
    was confirmed first)."""
    cancelled = OrderCancelled.model_validate(event.data)
    await _take_back(
        conn, _tenant(event), str(cancelled.order_id), CANCELLATION_CAUSE, str(cancelled.order_id)
    )
    await sponsors.take_back(conn, _tenant(event), str(cancelled.order_id))


async def reverse_points_for_return(conn: asyncpg.Connection, event: Envelope) -> None:
    """Take back the share of an order's points that the goods returned stand for, once per return."""
    accepted = ReturnAccepted.model_validate(event.data)
    await _take_back(
        conn,
        _tenant(event),
        str(accepted.order_id),
        RETURN_CAUSE,
        str(accepted.return_id),
        share=(accepted.returned_goods_minor, accepted.order_goods_minor),
    )


async def _take_back(
    conn: asyncpg.Connection,
    tenant_id: str,
    order_id: str,
    cause_type: str,
    cause_id: str,
    share: tuple[int, int] | None = None,
) -> None:
    """Take back what an order earned (or the `share` of it, returned of ordered), once per cause,
    as far as the balance allows (the rest is the entry's shortfall), and announce it. An order that
    earned nothing, or a closed account (its points were forfeited), has nothing to take back."""
    found = await store.earned(conn, tenant_id, ORDER_CAUSE, order_id)
    if found is None:
        log.info("the order earned nothing", order_id=order_id, cause_type=cause_type)
        return
    account_id, earned = found
    owed = returned_share(earned, *share) if share else earned
    account = await store.open_account(conn, tenant_id, account_id)
    if account.closed or owed == 0:
        log.info("nothing to take back", order_id=order_id, closed=account.closed)
        return
    points, shortfall = reversal(owed, account.balance)
    entry = await store.post_entry(
        conn, tenant_id, account_id, "reverse", points, cause_type, cause_id, shortfall
    )
    if entry is None:
        log.info("already taken back", cause_type=cause_type, cause_id=cause_id)
        return
    await outbox.publish(conn, SERVICE, PointsReversed.of(entry), subject=account_id, tenant_id=tenant_id)
    log.info(
        "points taken back", cause_type=cause_type, cause_id=cause_id, points=points, shortfall=shortfall
    )


async def close_deleted_members_account(conn: asyncpg.Connection, event: Envelope) -> None:
    """Close the points account of a member whose identity account was deleted: one forfeit entry
    brings the balance to 0 (announced), and later orders of hers earn nothing.

    Loyalty holds little personal data: an account is known by identity's pseudonymous id. Her card
    number goes (from the directory and any event or response holding it), and so do the requests to
    email her the secrets of her codes and gift cards; her visits, vouchers and gift cards stay in
    the books under the pseudonymous id (a gift card still spends with its PIN).
    The account is opened closed when the member never earned, so that a late order cannot open it.
    A redelivery, or another deletion event for the same account, finds it closed and changes nothing.
    """
    deleted = AccountDeleted.model_validate(event.data)
    tenant_id = _tenant(event)
    account = await store.open_account(conn, tenant_id, deleted.account_id)
    if account.closed:
        log.info("points account already closed", event_id=str(event.id))
        return
    points = forfeit_points(account.balance)
    if points != 0:
        entry = await store.post_entry(
            conn, tenant_id, deleted.account_id, "forfeit", points, DELETION_CAUSE, str(event.id)
        )
        # The lock and the open account make a second forfeit of this cause impossible.
        assert entry is not None, "an open account has no forfeit entry yet"
        forfeited = PointsForfeited.of(entry)
        await outbox.publish(conn, SERVICE, forfeited, subject=entry.account_id, tenant_id=tenant_id)
    await store.close_account(conn, tenant_id, deleted.account_id, deleted.deleted_at)
    card_number = await directory.forget_card(conn, tenant_id, deleted.account_id)
    scrubbed = await erasure.scrub(conn, deleted.account_id, [card_number])
    scrubbed += await erasure.forget_secrets(conn, deleted.account_id, [REQUESTS_TOPIC])
    log.info("points account closed", forfeited=-points, reason=deleted.reason, scrubbed=scrubbed)


# The model each consumed event type is read with: producers' examples must satisfy it (tests/contracts).
READINGS: dict[str, type[BaseModel]] = {
    ORDER_CONFIRMED: OrderConfirmed,
    ORDER_CANCELLED: OrderCancelled,
    ORDER_PAYMENT_REFUSED: OrderCancelled,
    RETURN_ACCEPTED: ReturnAccepted,
    ACCOUNT_DELETED: AccountDeleted,
    **directory.READINGS,
    **reservations.READINGS,
}


def handlers(default_points_per_unit: int) -> HandlerTable:
    """What loyalty consumes; tenants without a rule of their own earn `default_points_per_unit`."""

    async def award_order_points(conn: asyncpg.Connection, event: Envelope) -> None:
        await award_points_for_order(conn, event, default_points_per_unit=default_points_per_unit)

    return {
        ORDERS: {
            ORDER_CONFIRMED: award_order_points,
            ORDER_CANCELLED: reverse_points_for_order,
            ORDER_PAYMENT_REFUSED: reverse_points_for_order,
        },
        RETURNS: {RETURN_ACCEPTED: reverse_points_for_return},
        ACCOUNTS: {ACCOUNT_DELETED: close_deleted_members_account},
        directory.FACTS: {directory.FACTS_CHANGED: counter.keep_facts_and_welcome},
        directory.TENANTS: {directory.TENANT_SETTINGS_CHANGED: directory.keep_zone},
        directory.ORGANISATIONS: {
            directory.ORGANISATION_CREATED: directory.keep_shop,
            directory.ORGANISATION_UPDATED: directory.keep_shop,
        },
        directory.CATEGORIES: {
            directory.CATEGORY_CHANGED: directory.keep_category,
            directory.CATEGORY_DELETED: directory.drop_category,
        },
        directory.PRODUCTS: {
            directory.PRODUCT_CREATED: directory.keep_product,
            directory.PRODUCT_UPDATED: directory.keep_product,
        },
        **reservations.HANDLERS,
    }
