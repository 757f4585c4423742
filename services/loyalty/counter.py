"""The shop counter: the tenant's versioned earning rules, the visits and purchases shops record for a
member found by her card, the points they earn, and the welcome points of a new card."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict

from libs.common import outbox
from libs.common.consumer import PermanentError
from libs.common.errors import Conflict, Invalid
from libs.common.events import Envelope
from libs.common.limits import MAX_BALANCE, MAX_ENTRY_POINTS
from services.loyalty import directory, rewards, store
from services.loyalty.directory import Member
from services.loyalty.domain import PostedEntry, RuleApplied
from services.loyalty.events import SERVICE, PointsAwarded, PointsSpent, VisitRecorded
from services.loyalty.rewards import Program, Standing
from services.loyalty.rules import Rule, RuleSpec, Sale, VisitKind, points_for, welcome_points
from services.loyalty.store import Db

log = structlog.get_logger(__name__)

VISIT_CAUSE = "visit"
REWARD_CAUSE = "reward"
WELCOME_CAUSE = "welcome"
CUSTOMER = "customer"

# --- rules ---

_RULE_COLUMNS = "rule_id, version, spec, retired, created_at"
_CURRENT_RULES = f"""
SELECT * FROM (
    SELECT DISTINCT ON (rule_id) {_RULE_COLUMNS} FROM rule_versions
    WHERE tenant_id = $1 ORDER BY rule_id, version DESC
) latest
WHERE $2 OR NOT retired
ORDER BY created_at, rule_id
"""
_RULE_VERSIONS = f"""
SELECT {_RULE_COLUMNS} FROM rule_versions WHERE tenant_id = $1 AND rule_id = $2 ORDER BY version DESC
"""
_ADD_VERSION = f"""
INSERT INTO rule_versions (tenant_id, rule_id, version, spec, retired, created_at)
SELECT $1, $2, coalesce(max(version), 0) + 1, $3::jsonb, $4, $5 FROM rule_versions
WHERE tenant_id = $1 AND rule_id = $2
RETURNING {_RULE_COLUMNS}
"""


def _rule(row: asyncpg.Record) -> Rule:
    return Rule.model_validate(dict(row) | {"spec": json.loads(row["spec"])})


async def current_rules(db: Db, tenant_id: str, *, retired: bool = False) -> list[Rule]:
    """The latest version of each of the tenant's rules, oldest rule first (retired ones too if asked)."""
    return [_rule(row) for row in await db.fetch(_CURRENT_RULES, tenant_id, retired)]


async def rule_versions(db: Db, tenant_id: str, rule_id: uuid.UUID) -> list[Rule]:
    """Every version of a rule, newest first (empty: no such rule in this tenant)."""
    return [_rule(row) for row in await db.fetch(_RULE_VERSIONS, tenant_id, rule_id)]


async def write_rule(
    conn: asyncpg.Connection,
    tenant_id: str,
    rule_id: uuid.UUID,
    spec: RuleSpec,
    at: datetime,
    *,
    retired: bool = False,
) -> Rule:
    """A new version of the rule (its first for a new id); the earlier versions stay as they were."""
    try:
        async with conn.transaction():
            row = await conn.fetchrow(_ADD_VERSION, tenant_id, rule_id, spec.model_dump_json(), retired, at)
    except asyncpg.UniqueViolationError:
        raise Conflict(
            "rule-changed", "Rule changed meanwhile", "someone changed this rule at the same time: try again"
        ) from None
    assert row is not None
    return _rule(row)


# --- visits and purchases ---


class NewVisit(BaseModel):
    """A visit or purchase as staff record it."""

    model_config = ConfigDict(frozen=True)

    kind: VisitKind
    amount_minor: int = 0
    currency: str = "EUR"
    products: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    rewards: tuple[uuid.UUID, ...] = ()  # reward programs taken with this purchase
    shop_id: str | None
    recorded_by: str


class Visit(NewVisit):
    visit_id: uuid.UUID
    account_id: str
    number: int
    points: int  # earned
    spent: int = 0  # on its rewards
    discount_minor: int = 0  # what its rewards took off the amount
    balance: int | None = None  # right after it (when just recorded)
    recorded_at: datetime


_VISIT_COLUMNS = (
    "visit_id, account_id, shop_id, recorded_by, kind, amount_minor, currency, products, categories,"
    " number, recorded_at"
)
_ADD_VISIT = f"""
INSERT INTO visits (tenant_id, {_VISIT_COLUMNS}, discount_minor)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
"""
_HISTORY = """
SELECT coalesce(max(number), 0) AS visits, bool_or(kind = 'purchase') AS purchased
FROM visits WHERE tenant_id = $1 AND account_id = $2
"""
_V_COLUMNS = ", ".join(f"v.{column.strip()}" for column in _VISIT_COLUMNS.split(","))
_VISITS = f"""
SELECT {_V_COLUMNS}, v.discount_minor, coalesce(e.points, 0) AS points, coalesce(-r.points, 0) AS spent,
    ARRAY(SELECT program_id FROM redemptions WHERE visit_id = v.visit_id ORDER BY program_id) AS rewards
FROM visits v
LEFT JOIN ledger e ON e.tenant_id = v.tenant_id AND e.kind = 'earn' AND e.cause_type = 'visit'
    AND e.cause_id = v.visit_id::text
LEFT JOIN ledger r ON r.tenant_id = v.tenant_id AND r.kind = 'redeem' AND r.cause_type = 'reward'
    AND r.cause_id = v.visit_id::text
WHERE v.tenant_id = $1 AND ($2::text IS NULL OR v.account_id = $2) AND ($3::text IS NULL OR v.shop_id = $3)
ORDER BY v.recorded_at DESC, v.visit_id
LIMIT $4
"""


async def visits(
    db: Db, tenant_id: str, *, account_id: str | None = None, shop_id: str | None = None, limit: int = 20
) -> list[Visit]:
    """Visits and purchases, newest first: a member's, a shop's, or the tenant's."""
    rows = await db.fetch(_VISITS, tenant_id, account_id, shop_id, limit)
    return [Visit(**dict(row)) for row in rows]


async def history(db: Db, tenant_id: str, account_id: str) -> tuple[int, bool]:
    """(her visits so far, whether one was a purchase)."""
    row = await db.fetchrow(_HISTORY, tenant_id, account_id)
    return int(row["visits"]), bool(row["purchased"])


async def standing(db: Db, tenant_id: str, member: Member, balance: int, shop_id: str | None) -> Standing:
    """What decides which rewards she can take at her next visit (this one, when one is recorded)."""
    visits, purchased = await history(db, tenant_id, member.account_id)
    return Standing(
        balance=balance,
        professional=member.professional,
        purchased=purchased,
        visits=visits + 1,
        last_taken=await rewards.last_taken(db, tenant_id, member.account_id),
        shop_id=shop_id,
    )


async def _sale(
    conn: asyncpg.Connection, tenant_id: str, member: Member, new: NewVisit, standing_: Standing
) -> Sale:
    """What the rules read of this visit: her history, and the brands and categories of its products."""
    known = await directory.products_of(conn, tenant_id, list(new.products))
    if unknown := set(new.products) - {str(p.product_id) for p in known}:
        raise Invalid.field("products", f"not products of the catalog: {sorted(unknown)}", "unknown_product")
    categories = set(new.categories) | {str(p.category_id) for p in known if p.category_id}
    return Sale(
        kind=new.kind,
        amount_minor=new.amount_minor,
        shop_id=new.shop_id,
        categories=frozenset(categories),
        brands=frozenset(str(p.brand_id) for p in known if p.brand_id),
        professional=member.professional,
        number=standing_.visits,
        first_purchase=new.kind == "purchase" and not standing_.purchased,
    )


def _applied(rules: Sequence[Rule], sale: Sale) -> list[RuleApplied]:
    return [
        RuleApplied(rule_id=rule.rule_id, version=rule.version, points=points)
        for rule in rules
        if (points := points_for(rule.spec, sale)) > 0
    ]


async def _earn(
    conn: asyncpg.Connection,
    tenant_id: str,
    account_id: str,
    balance: int,
    cause_type: str,
    cause_id: str,
    applied: Sequence[RuleApplied],
) -> PostedEntry | None:
    """One earning entry for everything the rules gave this cause, announced; None when they gave
    nothing or the cause already earned."""
    points = sum(rule.points for rule in applied)
    if points == 0:
        return None
    if points > MAX_ENTRY_POINTS or balance + points > MAX_BALANCE:
        raise Conflict(
            "points-limit", "Too many points", f"{points} points would exceed what one account may hold"
        )
    entry = await store.post_entry(
        conn, tenant_id, account_id, "earn", points, cause_type, cause_id, rules=applied
    )
    if entry is not None:
        await outbox.publish(conn, SERVICE, PointsAwarded.of(entry), subject=account_id, tenant_id=tenant_id)
    return entry


async def record_visit(
    conn: asyncpg.Connection, tenant_id: str, member: Member, new: NewVisit, at: datetime
) -> Visit:
    """Record a visit or purchase of a member at a shop and award what the rules in force give it, in
    the caller's transaction; both are announced. Her account is locked meanwhile, so that her visits
    are numbered one after the other."""
    account = await store.open_account(conn, tenant_id, member.account_id)
    if account.closed:
        raise Conflict("account-closed", "Account closed", "this member's account was deleted")
    now_standing = await standing(conn, tenant_id, member, account.balance, new.shop_id)
    offered = await rewards.programs(conn, tenant_id, retired=True)  # a retired one: 409, not unknown
    picked = rewards.chosen(offered, new.rewards, now_standing)
    discount = rewards.discount_minor(picked, new.amount_minor)
    sale = await _sale(conn, tenant_id, member, new, now_standing)
    # The rules read what she paid: the amount less what the rewards took off.
    applied = _applied(
        await current_rules(conn, tenant_id),
        sale.model_copy(update={"amount_minor": new.amount_minor - discount}),
    )
    visit_id = uuid.uuid4()
    await conn.execute(
        _ADD_VISIT,
        tenant_id,
        visit_id,
        member.account_id,
        new.shop_id,
        new.recorded_by,
        new.kind,
        new.amount_minor,
        new.currency,
        list(new.products),
        sorted(sale.categories),
        sale.number,
        at,
        discount,
    )
    balance = account.balance
    if picked:
        await rewards.record_redemptions(
            conn, tenant_id, member.account_id, picked, visit_id, sale.number, new.amount_minor, at
        )
        balance = await _spend(conn, tenant_id, member.account_id, picked, str(visit_id), balance)
    entry = await _earn(conn, tenant_id, member.account_id, balance, VISIT_CAUSE, str(visit_id), applied)
    visit = Visit(
        **new.model_dump() | {"categories": tuple(sorted(sale.categories))},
        visit_id=visit_id,
        account_id=member.account_id,
        number=sale.number,
        points=entry.points if entry else 0,
        spent=sum(p.spec.points_cost for p in picked),
        discount_minor=discount,
        balance=entry.balance if entry else balance,
        recorded_at=at,
    )
    await outbox.publish(
        conn, SERVICE, VisitRecorded.of(visit), subject=member.account_id, tenant_id=tenant_id
    )
    log.info("visit recorded", kind=new.kind, number=sale.number, points=visit.points, spent=visit.spent)
    return visit


async def _spend(
    conn: asyncpg.Connection,
    tenant_id: str,
    account_id: str,
    picked: Sequence[Program],
    visit_id: str,
    balance: int,
) -> int:
    """Debit the rewards' points in one entry, announced; the balance after it."""
    cost = sum(p.spec.points_cost for p in picked)
    if cost == 0:
        return balance
    entry = await store.post_entry(conn, tenant_id, account_id, "redeem", -cost, REWARD_CAUSE, visit_id)
    assert entry is not None, "a new visit's rewards are spent once"
    spent = PointsSpent.of(entry, [p.program_id for p in picked])
    await outbox.publish(conn, SERVICE, spent, subject=account_id, tenant_id=tenant_id)
    return entry.balance


# --- the welcome of a new card ---


async def keep_facts_and_welcome(conn: asyncpg.Connection, event: Envelope) -> None:
    """Keep a member's facts; a customer with a card earns the welcome rules' points, once."""
    member = Member.model_validate(event.data)
    tenant_id = event.tenantid
    if not tenant_id:
        raise PermanentError(f"a {event.type} event without a tenant")
    if await directory.put_member(conn, tenant_id, member) is None:
        return  # older than what is kept
    if member.card_number is None or CUSTOMER not in member.roles:
        return
    applied = [
        RuleApplied(rule_id=rule.rule_id, version=rule.version, points=points)
        for rule in await current_rules(conn, tenant_id)
        if (points := welcome_points(rule.spec, member.professional, member.shop_id)) > 0
    ]
    if not applied:
        return
    account = await store.open_account(conn, tenant_id, member.account_id)
    if account.closed:
        return
    entry = await _earn(
        conn, tenant_id, member.account_id, account.balance, WELCOME_CAUSE, member.account_id, applied
    )
    log.info("welcome points", account_id=member.account_id, points=entry.points if entry else 0)
