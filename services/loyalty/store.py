"""Loyalty's SQL: earning rules, points accounts and their append-only ledger."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from services.loyalty.domain import (
    Account,
    EarningRule,
    EntryKind,
    LedgerEntry,
    PostedEntry,
    Pot,
    RuleApplied,
)

Db: TypeAlias = asyncpg.Connection | asyncpg.Pool  # reads run on either; writes need a connection

# --- earning rules ---

_RULE = "SELECT points_per_unit, version, updated_at FROM earning_rules WHERE tenant_id = $1"
_SET_RULE = """
INSERT INTO earning_rules (tenant_id, points_per_unit, updated_at) VALUES ($1, $2, now())
ON CONFLICT (tenant_id) DO UPDATE
SET points_per_unit = EXCLUDED.points_per_unit, updated_at = EXCLUDED.updated_at,
    version = earning_rules.version + 1
RETURNING points_per_unit, version, updated_at
"""


async def earning_rule(db: Db, tenant_id: str) -> EarningRule | None:
    """The tenant's own rule; None when it has not set one."""
    row = await db.fetchrow(_RULE, tenant_id)
    return EarningRule(**dict(row)) if row else None


async def set_earning_rule(db: Db, tenant_id: str, points_per_unit: int) -> EarningRule:
    row = await db.fetchrow(_SET_RULE, tenant_id, points_per_unit)
    assert row is not None
    return EarningRule(**dict(row))


# --- accounts and the ledger ---

_ACCOUNT = """
SELECT account_id, balance, sponsor_balance, closed_at FROM accounts WHERE tenant_id = $1 AND account_id = $2
"""
# Opens or finds the account and locks its row, in one statement: DO UPDATE takes the row lock
# (waiting for a concurrent holder, then reading the latest version), which DO NOTHING does not.
_OPEN_ACCOUNT = """
INSERT INTO accounts (tenant_id, account_id) VALUES ($1, $2)
ON CONFLICT (tenant_id, account_id) DO UPDATE SET account_id = EXCLUDED.account_id
RETURNING account_id, balance, sponsor_balance, closed_at
"""
_CLOSE_ACCOUNT = """
UPDATE accounts SET closed_at = $3, updated_at = now()
WHERE tenant_id = $1 AND account_id = $2 AND closed_at IS NULL
"""
# One statement adds the entry and moves the balance by its points, or does neither when the cause
# was already entered: no code path can write one without the other.
_POST_ENTRY = """
WITH entry AS (
    INSERT INTO ledger (entry_id, tenant_id, account_id, kind, points, cause_type, cause_id, shortfall, rules,
                        pot)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)
    ON CONFLICT DO NOTHING -- a cause entered already (an expiry: for this member, that day)
    RETURNING entry_id, tenant_id, account_id, kind, points, cause_type, cause_id, shortfall, rules,
        created_at, pot
)
UPDATE accounts AS a SET
    balance = a.balance + CASE WHEN entry.pot = 'purchase' THEN entry.points ELSE 0 END,
    sponsor_balance = a.sponsor_balance + CASE WHEN entry.pot = 'sponsor' THEN entry.points ELSE 0 END,
    updated_at = entry.created_at
FROM entry
WHERE a.tenant_id = entry.tenant_id AND a.account_id = entry.account_id
RETURNING entry.entry_id, entry.account_id, entry.kind, entry.points, entry.cause_type, entry.cause_id,
    entry.shortfall, entry.rules, entry.created_at, entry.pot,
    CASE WHEN entry.pot = 'sponsor' THEN a.sponsor_balance ELSE a.balance END AS balance
"""
_LEDGER = """
SELECT entry_id, kind, points, cause_type, cause_id, shortfall, rules, created_at, pot FROM ledger
WHERE tenant_id = $1 AND account_id = $2
ORDER BY seq DESC
LIMIT $3
"""


async def find_account(db: Db, tenant_id: str, account_id: str) -> Account | None:
    """The member's account in this tenant; None when the member never had an entry here."""
    row = await db.fetchrow(_ACCOUNT, tenant_id, account_id)
    return Account(**dict(row)) if row else None


async def open_account(conn: asyncpg.Connection, tenant_id: str, account_id: str) -> Account:
    """The member's account, opened if she has none yet and locked until the transaction ends, so
    concurrent entries of one member apply one after the other, a closure cannot slip between the
    check and the entry, and events appended after this keep their commit order."""
    if not conn.is_in_transaction():
        raise RuntimeError("open_account needs a transaction: the lock must cover the change and its event")
    row = await conn.fetchrow(_OPEN_ACCOUNT, tenant_id, account_id)
    return Account(**dict(row))


async def post_entry(
    conn: asyncpg.Connection,
    tenant_id: str,
    account_id: str,
    kind: EntryKind,
    points: int,
    cause_type: str,
    cause_id: str,
    shortfall: int = 0,
    rules: Sequence[RuleApplied] = (),
    pot: Pot = "purchase",
) -> PostedEntry | None:
    """Add an entry to an account locked with `open_account` and move the balance with it, in the
    caller's transaction; None (and no change) when this cause already has an entry of this kind (an
    expiry: of this member).
    `shortfall`: what a reversal could not take (the balance would have gone below zero); `rules`:
    the rules and versions that made an earning; `pot`: which of her balances it moves."""
    if not conn.is_in_transaction():
        raise RuntimeError("post_entry needs a transaction: the entry must commit with its event")
    applied = json.dumps([rule.model_dump(mode="json") for rule in rules])
    row = await conn.fetchrow(
        _POST_ENTRY,
        uuid.uuid4(),
        tenant_id,
        account_id,
        kind,
        points,
        cause_type,
        cause_id,
        shortfall,
        applied,
        pot,
    )
    return PostedEntry(**_entry_fields(row)) if row else None


def _entry_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    fields = dict(row)
    fields["rules"] = json.loads(fields["rules"])  # jsonb arrives as its text
    return fields


async def close_account(
    conn: asyncpg.Connection, tenant_id: str, account_id: str, closed_at: datetime
) -> None:
    """Mark an account locked with `open_account` closed: it earns nothing from now on."""
    await conn.execute(_CLOSE_ACCOUNT, tenant_id, account_id, closed_at)


async def earned(db: Db, tenant_id: str, cause_type: str, cause_id: str) -> tuple[str, int] | None:
    """(account, points) of what this cause earned; None when it earned nothing."""
    row = await db.fetchrow(
        "SELECT account_id, points FROM ledger"
        " WHERE tenant_id = $1 AND kind = 'earn' AND cause_type = $2 AND cause_id = $3",
        tenant_id,
        cause_type,
        cause_id,
    )
    return (row["account_id"], row["points"]) if row else None


async def ledger(db: Db, tenant_id: str, account_id: str, limit: int) -> list[LedgerEntry]:
    """The member's latest entries in this tenant, newest first."""
    rows = await db.fetch(_LEDGER, tenant_id, account_id, limit)
    return [LedgerEntry(**_entry_fields(row)) for row in rows]
