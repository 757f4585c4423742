"""Loyalty's pure rules: how many points an order earns, what a closed account forfeits, and what
accounts and ledger entries are."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

MINOR_PER_UNIT = 100  # minor units in one currency unit (cents in a euro)
DEFAULT_POINTS_PER_UNIT = 1
MAX_POINTS_PER_UNIT = 10_000  # far above any real programme

Pot = Literal["purchase", "sponsor"]
EntryKind = Literal["earn", "redeem", "reverse", "expire", "adjust", "forfeit", "reserve", "release"]
"""What a ledger entry does: earn credits, redeem and expire debit, reverse and adjust go either way,
forfeit brings a closed account's balance to 0, reserve debits points an order pays with and release
credits them back if the order does not go through."""


def points_for_order(total_minor: int, points_per_unit: int) -> int:
    """Points an order earns: `points_per_unit` per currency unit of its total, rounded down.

    An order of 12.99 EUR at 1 point per euro earns 12 points; 0.99 EUR earns none.
    """
    if total_minor < 0:
        raise ValueError(f"an order total cannot be negative: {total_minor}")
    if points_per_unit < 0:
        raise ValueError(f"a rule cannot take points away: {points_per_unit} points per unit")
    # Integer arithmetic: a float would round large totals wrongly.
    return total_minor * points_per_unit // MINOR_PER_UNIT


def returned_share(earned: int, returned_minor: int, order_minor: int) -> int:
    """The points of the goods returned: the order's points in proportion to the goods' amount,
    rounded down (so that returns of every line never take back more than the order earned)."""
    if order_minor <= 0:
        return 0
    return earned * min(returned_minor, order_minor) // order_minor


def reversal(earned: int, balance: int) -> tuple[int, int]:
    """(points, shortfall) of taking back `earned` points from `balance`: as many as the balance
    holds, never below zero; the rest is the shortfall."""
    taken = min(earned, max(balance, 0))
    return -taken, earned - taken


def forfeit_points(balance: int) -> int:
    """The points of the entry that closes an account: whatever brings its balance to 0.

    Usually a debit of everything left; a debt (a negative balance) is written off the same way.
    """
    return -balance


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True)


class EarningRule(_Value):
    """How a tenant's members earn points on orders; `updated_at` is None for the service default,
    whose version is 0; each change of the tenant's rule is a new version."""

    points_per_unit: int
    version: int = 0
    updated_at: datetime | None = None


class RuleApplied(_Value):
    """A rule, in the version that applied, and what it gave; the order rule has no id."""

    rule_id: uuid.UUID | None
    version: int
    points: int


class Account(_Value):
    """A member's points account in one tenant; closed once the member's identity account is deleted."""

    account_id: str
    balance: int
    sponsor_balance: int = 0  # points earned on her team's orders, a pot of their own
    closed_at: datetime | None = None

    @property
    def closed(self) -> bool:
        return self.closed_at is not None


class LedgerEntry(_Value):
    """One movement of points; the balance is the sum of the member's entries."""

    entry_id: uuid.UUID
    kind: EntryKind
    points: int
    cause_type: str
    cause_id: str
    created_at: datetime
    shortfall: int = 0  # what a reversal could not take: the balance stays at or above 0
    rules: tuple[RuleApplied, ...] = ()  # for an earning: the rules and versions that made it
    pot: Pot = "purchase"  # purchase points, or sponsor points (earned on her team's orders)


class PostedEntry(LedgerEntry):
    """An entry just added, with the account's balance right after it."""

    account_id: str
    balance: int
