"""Sponsor points: a sponsor (the member who brought a recruit in, as identity's account facts say)
earns on her team's confirmed orders by the tenant's rule — a share of each recruit's eligible
amount, in points of one currency unit, and a bonus on a recruit's first order — in a pot of their
own, apart from her purchase points; a cancelled order's share is taken back (the bonus stays). She
spends them on her own orders through the same checkout (`reservations`)."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, Field

from libs.common import outbox
from libs.common.limits import MAX_ENTRY_POINTS
from services.loyalty import directory, store
from services.loyalty.domain import reversal
from services.loyalty.events import SERVICE, PointsAwarded, PointsReversed
from services.loyalty.store import Db

log = structlog.get_logger(__name__)

ORDER_CAUSE = "sponsor-order"  # a recruit's order (the order id)
FIRST_ORDER_CAUSE = "sponsor-first-order"  # a recruit's first order (the recruit's account id)
CANCELLED_CAUSE = "sponsor-order-cancelled"


class SponsorRule(BaseModel):
    """What sponsors earn on their team's orders; nothing by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    percent_bp: int = Field(
        0, ge=0, le=10_000, description="Points: this share (basis points) of each recruit's eligible amount"
    )
    first_order_points: int = Field(
        0, ge=0, le=MAX_ENTRY_POINTS, description="And this bonus on each recruit's first order"
    )


async def rule_of(db: Db, tenant_id: str) -> SponsorRule:
    row = await db.fetchrow(
        "SELECT sponsor_percent_bp AS percent_bp, sponsor_first_order_points AS first_order_points"
        " FROM loyalty_settings WHERE tenant_id = $1",
        tenant_id,
    )
    return SponsorRule(**dict(row)) if row else SponsorRule()


async def set_rule(db: Db, tenant_id: str, rule: SponsorRule, at: datetime) -> SponsorRule:
    await db.execute(
        "INSERT INTO loyalty_settings (tenant_id, sponsor_percent_bp, sponsor_first_order_points, updated_at)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET"
        " sponsor_percent_bp = EXCLUDED.sponsor_percent_bp,"
        " sponsor_first_order_points = EXCLUDED.sponsor_first_order_points, updated_at = EXCLUDED.updated_at",
        tenant_id,
        rule.percent_bp,
        rule.first_order_points,
        at,
    )
    return rule


def share_points(eligible_minor: int, percent_bp: int) -> int:
    """The sponsor's share of an eligible amount, in whole points of one currency unit."""
    return eligible_minor * percent_bp // 10_000 // 100


async def _credit(
    conn: asyncpg.Connection, tenant_id: str, sponsor_id: str, points: int, cause_type: str, cause_id: str
) -> None:
    entry = await store.post_entry(
        conn, tenant_id, sponsor_id, "earn", points, cause_type, cause_id, pot="sponsor"
    )
    if entry is not None:  # None: this cause was credited already
        await outbox.publish(conn, SERVICE, PointsAwarded.of(entry), subject=sponsor_id, tenant_id=tenant_id)


async def award(
    conn: asyncpg.Connection, tenant_id: str, order_id: str, recruit_id: str, eligible_minor: int
) -> None:
    """Credit the recruit's sponsor for a confirmed order: her share, and the bonus when it is the
    recruit's first order (its cause is the recruit: once whatever the order)."""
    recruit = await directory.member(conn, tenant_id, recruit_id)
    if recruit is None or recruit.sponsor_id is None:
        return
    rule = await rule_of(conn, tenant_id)
    share = min(share_points(eligible_minor, rule.percent_bp), MAX_ENTRY_POINTS)
    if not share and not rule.first_order_points:
        return
    sponsor = await store.open_account(conn, tenant_id, recruit.sponsor_id)
    if sponsor.closed:
        return
    if share:
        await _credit(conn, tenant_id, sponsor.account_id, share, ORDER_CAUSE, order_id)
    if rule.first_order_points:
        await _credit(
            conn, tenant_id, sponsor.account_id, rule.first_order_points, FIRST_ORDER_CAUSE, recruit_id
        )
    log.info("sponsor points awarded", order_id=order_id, share=share)


async def take_back(conn: asyncpg.Connection, tenant_id: str, order_id: str) -> None:
    """A recruit's order was cancelled: its share comes off the sponsor's pot, as far as it holds."""
    row = await conn.fetchrow(
        "SELECT account_id, points FROM ledger WHERE tenant_id = $1 AND kind = 'earn' AND cause_type = $2"
        " AND cause_id = $3",
        tenant_id,
        ORDER_CAUSE,
        order_id,
    )
    if row is None:
        return
    sponsor = await store.open_account(conn, tenant_id, row["account_id"])
    if sponsor.closed:
        return
    points, shortfall = reversal(row["points"], sponsor.sponsor_balance)
    entry = await store.post_entry(
        conn,
        tenant_id,
        sponsor.account_id,
        "reverse",
        points,
        CANCELLED_CAUSE,
        order_id,
        shortfall,
        pot="sponsor",
    )
    if entry is not None:
        event = PointsReversed.of(entry)
        await outbox.publish(conn, SERVICE, event, subject=sponsor.account_id, tenant_id=tenant_id)
