"""The manager's dashboard: customers, visits, points and gift cards per period and per shop, from
loyalty's own tables, in the tenant's days (its time zone, as identity announces it)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from services.loyalty.store import Db

Period = Literal["day", "week", "month"]
MAX_DAYS = 731


class Row(BaseModel):
    period: date = Field(description="The first day of the period (in the tenant's time zone)")
    visits: int = Field(description="Visits and purchases recorded")
    purchases_minor: int = Field(description="What the purchases came to, in minor units")
    points_issued: int = Field(description="Points earned")
    points_spent: int = Field(description="Points spent on rewards and vouchers")
    points_expired: int = Field(
        description="Points expired (of a shop: those of the customers registered there, their home shop)"
    )
    rewards_redeemed: int = Field(description="Rewards taken at the counter and vouchers used")
    gift_cards_sold_minor: int = Field(description="Gift cards sold, in minor units")
    gift_cards_redeemed_minor: int = Field(description="Gift cards spent, in minor units")


class Customers(BaseModel):
    total: int = Field(description="Customers with a card (of the shop: registered there)")
    new: int = Field(description="Customers whose first visit (at the shop) fell in the range")
    active: int = Field(description="Customers with a visit (at the shop) in the range")


class Dashboard(BaseModel):
    since: date = Field(description="First day (in the tenant's time zone)")
    until: date = Field(description="Last day, included")
    time_zone: str = Field(description="The tenant's time zone its days are counted in")
    shop_id: str | None = Field(description="The shop; null: every shop")
    period: Period = Field(description="day, week or month")
    customers: Customers
    totals: Row = Field(description="The whole range (its period is its first day)")
    series: list[Row] = Field(description="One row per period, oldest first")


_SERIES = """
WITH bounds AS (SELECT $2::timestamptz AS since, $3::timestamptz AS until),
visit AS (
    SELECT date_trunc($5, v.recorded_at AT TIME ZONE $6)::date AS period, v.visit_id, v.amount_minor
    FROM visits v, bounds b
    WHERE v.tenant_id = $1 AND v.recorded_at >= b.since AND v.recorded_at < b.until
      AND ($4::text IS NULL OR v.shop_id = $4)
),
entry AS (
    SELECT date_trunc($5, l.created_at AT TIME ZONE $6)::date AS period, l.kind, l.points, l.cause_type
    FROM ledger l, bounds b
    WHERE l.tenant_id = $1 AND l.created_at >= b.since AND l.created_at < b.until
      AND ($4::text IS NULL OR (l.cause_type IN ('visit', 'reward')
          AND l.cause_id IN (SELECT visit_id::text FROM visit))
          OR (l.cause_type = 'voucher' AND l.cause_id IN (
              SELECT voucher_id::text FROM vouchers WHERE tenant_id = $1 AND redeemed_shop = $4))
          OR (l.kind = 'expire' AND l.account_id IN (
              SELECT account_id FROM members WHERE tenant_id = $1 AND shop_id = $4)))
),
taken AS (
    SELECT date_trunc($5, r.redeemed_at AT TIME ZONE $6)::date AS period FROM redemptions r
    WHERE r.tenant_id = $1 AND r.visit_id IN (SELECT visit_id FROM visit)
    UNION ALL
    SELECT date_trunc($5, u.redeemed_at AT TIME ZONE $6)::date FROM vouchers u, bounds b
    WHERE u.tenant_id = $1 AND u.redeemed_at >= b.since AND u.redeemed_at < b.until
      AND ($4::text IS NULL OR u.redeemed_shop = $4)
),
gift AS (
    SELECT date_trunc($5, m.at AT TIME ZONE $6)::date AS period, m.kind, m.amount_minor
    FROM gift_card_moves m, bounds b
    WHERE m.tenant_id = $1 AND m.at >= b.since AND m.at < b.until AND ($4::text IS NULL OR m.shop_id = $4)
),
periods AS (
    SELECT period FROM visit UNION SELECT period FROM entry UNION SELECT period FROM taken
    UNION SELECT period FROM gift
)
SELECT p.period,
    (SELECT count(*) FROM visit WHERE period = p.period) AS visits,
    (SELECT coalesce(sum(amount_minor), 0) FROM visit WHERE period = p.period) AS purchases_minor,
    (SELECT coalesce(sum(points), 0) FROM entry WHERE period = p.period AND kind = 'earn') AS points_issued,
    (SELECT coalesce(-sum(points), 0) FROM entry WHERE period = p.period AND kind = 'redeem') AS points_spent,
    (SELECT coalesce(-sum(points), 0) FROM entry WHERE period = p.period AND kind = 'expire')
        AS points_expired,
    (SELECT count(*) FROM taken WHERE period = p.period) AS rewards_redeemed,
    (SELECT coalesce(sum(amount_minor), 0) FROM gift WHERE period = p.period AND kind = 'sale')
        AS gift_cards_sold_minor,
    (SELECT coalesce(-sum(amount_minor), 0) FROM gift WHERE period = p.period AND kind = 'redeem')
        AS gift_cards_redeemed_minor
FROM periods p ORDER BY p.period
"""
_CUSTOMERS = """
WITH firsts AS (
    SELECT account_id, min(recorded_at) AS first_at, bool_or(recorded_at >= $2 AND recorded_at < $3) AS active
    FROM visits WHERE tenant_id = $1 AND ($4::text IS NULL OR shop_id = $4) GROUP BY account_id
)
SELECT
    (SELECT count(*) FROM members WHERE tenant_id = $1 AND 'customer' = ANY (roles)
        AND card_number IS NOT NULL AND ($4::text IS NULL OR shop_id = $4)) AS total,
    (SELECT count(*) FROM firsts WHERE first_at >= $2 AND first_at < $3) AS new,
    (SELECT count(*) FROM firsts WHERE active) AS active
"""


async def dashboard(
    db: Db, tenant_id: str, since: date, until: date, shop_id: str | None, period: Period, zone: str
) -> Dashboard:
    """The days from `since` to `until` (included) as the tenant counts them, in its time `zone`."""
    start, end = _midnight(since, zone), _midnight(until + timedelta(days=1), zone)
    rows = [Row(**dict(r)) for r in await db.fetch(_SERIES, tenant_id, start, end, shop_id, period, zone)]
    customers = await db.fetchrow(_CUSTOMERS, tenant_id, start, end, shop_id)
    totals = Row(
        period=since,
        **{name: sum(getattr(r, name) for r in rows) for name in Row.model_fields if name != "period"},
    )
    return Dashboard(
        since=since,
        until=until,
        time_zone=zone,
        shop_id=shop_id,
        period=period,
        customers=Customers(**dict(customers)),
        totals=totals,
        series=rows,
    )


def _midnight(day: date, zone: str) -> datetime:
    """When the day starts in the zone."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(zone))


def as_csv(board: Dashboard) -> str:
    """The series as CSV, one row per period, with the header row."""
    out = io.StringIO()
    writer = csv.writer(out)
    names = list(Row.model_fields)
    writer.writerow(names)
    for row in board.series:
        writer.writerow([getattr(row, name) for name in names])
    return out.getvalue()
