"""Points expire a number of months after they were earned, oldest first: what a member spent (or
lost) is taken from her oldest points, and what is left of the points earned before the cutoff
expires. A job writes the expiry entries exactly once (one per member and day at most, its cause
being the day) and asks notify to warn members some days before."""

from __future__ import annotations

import asyncio
import calendar
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, Field

from libs.common import outbox
from libs.common.clock import Clock
from libs.common.runtime import every
from services.loyalty import store
from services.loyalty.events import SERVICE, PointsExpired, PointsExpiryWarned
from services.loyalty.store import Db

log = structlog.get_logger(__name__)

EXPIRY_CAUSE = "expiry"


class ExpirySettings(BaseModel):
    """A tenant's expiry of points: none by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expiry_months: int | None = Field(
        None, ge=1, le=120, description="Points expire this many months after they were earned; null: never"
    )
    warning_days: int = Field(30, ge=1, le=365, description="Members are warned this many days before")


def months_before(at: datetime, months: int) -> datetime:
    """The same time `months` calendar months earlier (the 31st becomes the month's last day)."""
    year, month = divmod(at.year * 12 + at.month - 1 - months, 12)
    day = min(at.day, calendar.monthrange(year, month + 1)[1])
    return at.replace(year=year, month=month + 1, day=day)


def expiring(earned_before_cutoff: int, consumed: int, balance: int) -> int:
    """What expires now: the points earned before the cutoff that nothing consumed yet (debits take
    the oldest points first), never more than the balance holds."""
    return max(0, min(earned_before_cutoff - consumed, balance))


# What a member earned before a time, and everything that ever took points from her (expiries
# included): debits consume the oldest points first, whenever they happened; points an order
# reserved then released were not consumed.
_STANDING = """
SELECT a.account_id, a.balance,
    coalesce(sum(l.points) FILTER (WHERE l.kind = 'earn' AND l.created_at < $2), 0) AS earned_before,
    coalesce(-sum(l.points) FILTER (WHERE l.points < 0), 0)
        - coalesce(sum(l.points) FILTER (WHERE l.kind = 'release'), 0) AS consumed
FROM accounts a JOIN ledger l ON l.tenant_id = a.tenant_id AND l.account_id = a.account_id
    AND l.pot = 'purchase'
WHERE a.tenant_id = $1 AND a.closed_at IS NULL AND a.balance > 0
GROUP BY a.account_id, a.balance
HAVING coalesce(sum(l.points) FILTER (WHERE l.kind = 'earn' AND l.created_at < $2), 0) > 0
"""
_TENANTS = (
    "SELECT tenant_id, expiry_months, warning_days FROM loyalty_settings WHERE expiry_months IS NOT NULL"
)
_WARN = """
INSERT INTO expiry_warnings (tenant_id, account_id, expires_on, points, warned_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING
"""


async def settings_of(db: Db, tenant_id: str) -> ExpirySettings:
    row = await db.fetchrow(
        "SELECT expiry_months, warning_days FROM loyalty_settings WHERE tenant_id = $1", tenant_id
    )
    return ExpirySettings(**dict(row)) if row else ExpirySettings()


async def set_settings(db: Db, tenant_id: str, settings: ExpirySettings, at: datetime) -> ExpirySettings:
    await db.execute(
        "INSERT INTO loyalty_settings (tenant_id, expiry_months, warning_days, updated_at)"
        " VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (tenant_id) DO UPDATE SET expiry_months = EXCLUDED.expiry_months,"
        " warning_days = EXCLUDED.warning_days, updated_at = EXCLUDED.updated_at",
        tenant_id,
        settings.expiry_months,
        settings.warning_days,
        at,
    )
    return settings


async def expire_tenant(conn: asyncpg.Connection, tenant_id: str, months: int, now: datetime) -> int:
    """Write today's expiry entries of a tenant (once: the day is their cause); how many points."""
    total = 0
    for row in await conn.fetch(_STANDING, tenant_id, months_before(now, months)):
        account = await store.open_account(conn, tenant_id, row["account_id"])  # locked, then read again
        fresh = await conn.fetchrow(_STANDING_OF, tenant_id, months_before(now, months), row["account_id"])
        points = expiring(fresh["earned_before"], fresh["consumed"], account.balance) if fresh else 0
        if points == 0:
            continue
        entry = await store.post_entry(
            conn, tenant_id, account.account_id, "expire", -points, EXPIRY_CAUSE, now.date().isoformat()
        )
        if entry is None:
            continue  # expired today already
        await outbox.publish(
            conn, SERVICE, PointsExpired.of(entry), subject=account.account_id, tenant_id=tenant_id
        )
        total += points
    return total


_STANDING_OF = _STANDING.replace("WHERE a.tenant_id = $1", "WHERE a.tenant_id = $1 AND a.account_id = $3")


async def warn_tenant(conn: asyncpg.Connection, tenant_id: str, months: int, days: int, now: datetime) -> int:
    """Warn the members whose points expire within `days` (once per member and expiry day)."""
    warned = 0
    soon = now + timedelta(days=days)
    for row in await conn.fetch(_STANDING, tenant_id, months_before(soon, months)):
        points = expiring(row["earned_before"], row["consumed"], row["balance"])
        if points == 0:
            continue
        expires_on = _first_expiry(
            await _earnings(conn, tenant_id, row["account_id"]), row["consumed"], months
        )
        status = await conn.execute(_WARN, tenant_id, row["account_id"], expires_on, points, now)
        if status.endswith(" 1"):
            event = PointsExpiryWarned(account_id=row["account_id"], points=points, expires_on=expires_on)
            await outbox.publish(conn, SERVICE, event, subject=row["account_id"], tenant_id=tenant_id)
            warned += 1
    return warned


async def _earnings(conn: asyncpg.Connection, tenant_id: str, account_id: str) -> list[tuple[datetime, int]]:
    rows = await conn.fetch(
        "SELECT created_at, points FROM ledger WHERE tenant_id = $1 AND account_id = $2 AND kind = 'earn'"
        " AND pot = 'purchase'"
        " ORDER BY created_at, seq",
        tenant_id,
        account_id,
    )
    return [(row["created_at"], row["points"]) for row in rows]


def _first_expiry(earnings: Sequence[tuple[datetime, int]], consumed: int, months: int) -> date:
    """The day her oldest points not consumed yet expire."""
    left = consumed
    for at, points in earnings:
        if points > left:
            return months_before(at, -months).date()
        left -= points
    raise ValueError("no points left to expire")


async def run(pool: asyncpg.Pool, now: datetime) -> tuple[int, int]:
    """One pass over every tenant that has an expiry: (points expired, members warned)."""
    expired = warned = 0
    for tenant in await pool.fetch(_TENANTS):
        async with pool.acquire() as conn, conn.transaction():
            expired += await expire_tenant(conn, tenant["tenant_id"], tenant["expiry_months"], now)
        async with pool.acquire() as conn, conn.transaction():
            warned += await warn_tenant(
                conn, tenant["tenant_id"], tenant["expiry_months"], tenant["warning_days"], now
            )
    return expired, warned


async def expiry_worker(
    pool: asyncpg.Pool, stopping: asyncio.Event, *, interval_s: float, clock: Clock
) -> None:
    """Expire and warn: at start, then every interval (a pass is idempotent within a day)."""

    async def sweep() -> None:
        expired, warned = await run(pool, clock())
        if expired or warned:
            log.info("points expiry", expired=expired, warned=warned)

    await every(stopping, interval_s, "points expiry", sweep)
