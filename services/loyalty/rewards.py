"""Reward programs: what a customer's points (or her visits) buy at the counter — a discount, a
cashback (a percentage taken off the purchase being recorded) or a gift — which she sees when she can
take it, and which staff apply to the purchase they record."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal, Self

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from libs.common.errors import Conflict, Invalid
from libs.common.limits import MAX_BALANCE, MAX_ENTRY_POINTS
from services.loyalty.rules import BASIS_POINTS, MAX_IDS, Id
from services.loyalty.store import Db

ProgramKind = Literal["discount", "cashback", "gift"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
MAX_REWARDS_AT_ONCE = 5


class ProgramSpec(BaseModel):
    """A reward program as the manager writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Title = Field(description="What customers and staff read, e.g. “10 % off”")
    kind: ProgramKind = Field(
        description="discount or cashback: `percent_bp` off the purchase recorded with it; gift: `gift`"
    )
    percent_bp: int = Field(0, ge=0, le=BASIS_POINTS, description="discount, cashback: basis points off")
    gift: Title | None = Field(None, description="gift: what she is given")
    points_cost: int = Field(0, ge=0, le=MAX_ENTRY_POINTS, description="Points it costs (0: free)")
    every_visits: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Per visit: free, and available again at every `every_visits`-th visit since she last"
        " took it, instead of costing points",
    )
    welcome: bool = Field(False, description="Only for a customer who has made no purchase yet, once")
    professionals_only: bool = Field(False, description="Only for professional customers")
    excluded_shops: list[Id] = Field([], max_length=MAX_IDS, description="Shops that opted out of it")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.kind in ("discount", "cashback") and self.percent_bp == 0:
            raise ValueError("a discount or a cashback needs percent_bp")
        if self.kind == "gift" and not self.gift:
            raise ValueError("a gift program names its gift")
        if self.every_visits is not None and self.points_cost:
            raise ValueError("a per-visit program costs visits, not points: leave points_cost at 0")
        return self


class Program(BaseModel):
    model_config = ConfigDict(frozen=True)

    program_id: uuid.UUID
    spec: ProgramSpec
    created_at: datetime
    retired_at: datetime | None = None


class Standing(BaseModel):
    """What decides whether a member can take a program now."""

    model_config = ConfigDict(frozen=True)

    balance: int
    professional: bool
    purchased: bool  # she has made a purchase already
    visits: int  # her visits so far, this one included when one is being recorded
    last_taken: dict[uuid.UUID, int] = {}  # program → her visit count when she last took it
    shop_id: str | None = None


def available(program: Program, standing: Standing) -> bool:
    """Whether she can take this program now, at this shop."""
    spec = program.spec
    if program.retired_at is not None:
        return False
    if spec.professionals_only and not standing.professional:
        return False
    if standing.shop_id is not None and standing.shop_id in spec.excluded_shops:
        return False
    taken = standing.last_taken.get(program.program_id)
    if spec.welcome and (standing.purchased or taken is not None):
        return False
    if spec.every_visits is not None:
        return standing.visits - (taken or 0) >= spec.every_visits
    return standing.balance >= spec.points_cost


def insufficient(cost: int, balance: int, what: str = "these rewards cost") -> Conflict:
    return Conflict(
        "insufficient-points",
        "Not enough points",
        f"{what} {cost} points; the balance holds {balance}",
        extensions={"balance": balance, "needed": cost},
    )


def refuse_unless_available(program: Program, standing: Standing) -> None:
    """A 409 when she cannot take it now: insufficient-points when only points are missing (she can
    earn them), reward-unavailable otherwise (visits, conditions, retired)."""
    if available(program, standing):
        return
    rich = standing.model_copy(update={"balance": MAX_BALANCE})
    if program.spec.every_visits is None and available(program, rich):
        raise insufficient(program.spec.points_cost, standing.balance, f"{program.spec.title!r} costs")
    raise Conflict(
        "reward-unavailable",
        "Reward not available",
        f"{program.spec.title!r} cannot be taken now (visits or conditions)",
    )


def discount_minor(programs: Sequence[Program], amount_minor: int) -> int:
    """What the discounts and cashbacks take off an amount: their rates added, never more than it."""
    rate = sum(p.spec.percent_bp for p in programs if p.spec.kind in ("discount", "cashback"))
    return min(amount_minor, amount_minor * rate // BASIS_POINTS)


# --- storage ---

_COLUMNS = "program_id, spec, created_at, retired_at"
_PROGRAMS = f"""
SELECT {_COLUMNS} FROM programs WHERE tenant_id = $1 AND ($2 OR retired_at IS NULL) ORDER BY created_at
"""
_ADD = f"""
INSERT INTO programs (tenant_id, program_id, spec, created_at) VALUES ($1, $2, $3::jsonb, $4)
RETURNING {_COLUMNS}
"""
_RETIRE = f"""
UPDATE programs SET retired_at = coalesce(retired_at, $3) WHERE tenant_id = $1 AND program_id = $2
RETURNING {_COLUMNS}
"""
_LAST_TAKEN = """
SELECT program_id, max(visit_number) AS visits FROM redemptions
WHERE tenant_id = $1 AND account_id = $2 GROUP BY program_id
"""
_REDEEM = """
INSERT INTO redemptions (redemption_id, tenant_id, account_id, program_id, visit_id, visit_number,
                         points, discount_minor, redeemed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""


def _program(row: asyncpg.Record) -> Program:
    return Program.model_validate(dict(row) | {"spec": json.loads(row["spec"])})


async def programs(db: Db, tenant_id: str, *, retired: bool = False) -> list[Program]:
    return [_program(row) for row in await db.fetch(_PROGRAMS, tenant_id, retired)]


async def program(db: Db, tenant_id: str, program_id: uuid.UUID) -> Program | None:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM programs WHERE tenant_id = $1 AND program_id = $2", tenant_id, program_id
    )
    return _program(row) if row else None


async def add_program(conn: asyncpg.Connection, tenant_id: str, spec: ProgramSpec, at: datetime) -> Program:
    row = await conn.fetchrow(_ADD, tenant_id, uuid.uuid4(), spec.model_dump_json(), at)
    return _program(row)


async def retire_program(db: Db, tenant_id: str, program_id: uuid.UUID, at: datetime) -> Program | None:
    row = await db.fetchrow(_RETIRE, tenant_id, program_id, at)
    return _program(row) if row else None


async def last_taken(db: Db, tenant_id: str, account_id: str) -> dict[uuid.UUID, int]:
    return {row["program_id"]: row["visits"] for row in await db.fetch(_LAST_TAKEN, tenant_id, account_id)}


def chosen(offered: Sequence[Program], wanted: Sequence[uuid.UUID], standing: Standing) -> list[Program]:
    """The programs asked for, each available to her now, and what they cost together within her
    balance; a 409 naming the first that is not (nothing is taken then)."""
    if len(set(wanted)) != len(wanted):
        raise Invalid.field("rewards", "each reward once", "duplicate")
    by_id = {p.program_id: p for p in offered}
    picked = []
    for program_id in wanted:
        program = by_id.get(program_id)
        if program is None:
            raise Invalid.field("rewards", f"no such reward program: {program_id}", "unknown_reward")
        refuse_unless_available(program, standing)
        picked.append(program)
    cost = sum(p.spec.points_cost for p in picked)
    if cost > standing.balance:
        raise insufficient(cost, standing.balance, "these rewards cost together")
    return picked


async def record_redemptions(
    conn: asyncpg.Connection,
    tenant_id: str,
    account_id: str,
    picked: Sequence[Program],
    visit_id: uuid.UUID,
    visit_number: int,
    amount_minor: int,
    at: datetime,
) -> None:
    """One row per reward taken with a visit: what it cost and took off."""
    for program in picked:
        await conn.execute(
            _REDEEM,
            uuid.uuid4(),
            tenant_id,
            account_id,
            program.program_id,
            visit_id,
            visit_number,
            program.spec.points_cost,
            discount_minor([program], amount_minor),
            at,
        )
