"""Loyalty's HTTP API: points balances and ledgers (one's own; any, for admins and shops), earning rule."""

from __future__ import annotations

import uuid
from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel

from libs.common import payments
from libs.common.api import AUTHENTICATED, SELF, TENANT, Endpoint, Owner, grant, owned, roles
from libs.common.auth import Principal, principal
from libs.common.http import json_response, read_json, read_query
from libs.common.runtime import HTTP_CLIENT, POOL, ApiSetup
from libs.common.settings import ServiceSettings
from services.loyalty import store
from services.loyalty.domain import MAX_POINTS_PER_UNIT, Account, EarningRule, EntryKind, LedgerEntry, Pot

DEFAULT_POINTS_PER_UNIT = web.AppKey("default_points_per_unit", int)
DEFAULT_LIMIT, MAX_LIMIT = 100, 500


def configure(default_points_per_unit: int, settings: ServiceSettings) -> ApiSetup:
    """Give the API the rule of tenants that set none (the consumer is given the same value) and the
    payment provider of gift cards bought online."""

    def setup(app: web.Application) -> None:
        app[DEFAULT_POINTS_PER_UNIT] = default_points_per_unit
        payments.install(app, settings, lambda: app[HTTP_CLIENT])  # gift cards bought online

    return setup


class SetEarningRule(BaseModel):
    """How many points the tenant's members earn per currency unit of an order's total."""

    model_config = ConfigDict(extra="forbid")

    points_per_unit: int = Field(
        strict=True,
        ge=0,
        le=MAX_POINTS_PER_UNIT,
        description="Points per currency unit (per euro), rounded down per order; 0 stops earning",
    )


class EarningRuleView(BaseModel):
    points_per_unit: int = Field(description="Points per currency unit of an order's total, rounded down")
    is_default: bool = Field(description="True while the tenant has not set a rule of its own")
    updated_at: datetime | None = Field(description="When the tenant last set its rule; null for the default")


class AccountView(BaseModel):
    account_id: str = Field(description="The member (identity's account id)")
    balance: int = Field(description="Points available: the sum of the member's ledger entries")
    sponsor_balance: int = Field(
        0, description="Sponsor points available (earned on her team's orders): the sum of their entries"
    )
    closed_at: datetime | None = Field(
        None,
        description="When the member's account was deleted: her points were forfeited and she earns no"
        " more; null while open",
    )

    @classmethod
    def of(cls, account: Account) -> AccountView:
        return cls(
            account_id=account.account_id,
            balance=account.balance,
            sponsor_balance=account.sponsor_balance,
            closed_at=account.closed_at,
        )


class LedgerEntryView(BaseModel):
    entry_id: uuid.UUID = Field(description="The entry's id")
    kind: EntryKind = Field(description="earn, redeem, reverse, expire, adjust or forfeit")
    points: int = Field(description="Points credited (positive) or debited (negative)")
    cause_type: str = Field(
        description='What caused the entry: "order", "order-cancelled" (a reversal), "account-deletion"'
    )
    cause_id: str = Field(description="Which one: the order id, the deletion event's id")
    shortfall: int = Field(
        description="What a reversal could not take back (the balance never goes below zero); else 0"
    )
    created_at: datetime = Field(description="When the entry was written (UTC)")
    pot: Pot = Field("purchase", description="purchase points, or sponsor points (her team's orders)")


class LedgerView(RootModel[list[LedgerEntryView]]):
    """Ledger entries, newest first."""


class LedgerQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="At most this many entries")


def _rule_view(rule: EarningRule | None, default_points_per_unit: int) -> EarningRuleView:
    if rule is None:
        return EarningRuleView(points_per_unit=default_points_per_unit, is_default=True, updated_at=None)
    return EarningRuleView(points_per_unit=rule.points_per_unit, is_default=False, updated_at=rule.updated_at)


def _ledger_view(entries: list[LedgerEntry]) -> LedgerView:
    return LedgerView([LedgerEntryView.model_validate(entry.model_dump()) for entry in entries])


async def get_earning_rule(request: web.Request) -> web.Response:
    rule = await store.earning_rule(request.app[POOL], principal(request).tenant_id)
    return json_response(_rule_view(rule, request.app[DEFAULT_POINTS_PER_UNIT]))


async def set_earning_rule(request: web.Request) -> web.Response:
    body = await read_json(request, SetEarningRule)
    rule = await store.set_earning_rule(request.app[POOL], principal(request).tenant_id, body.points_per_unit)
    return json_response(_rule_view(rule, request.app[DEFAULT_POINTS_PER_UNIT]))


async def get_my_account(request: web.Request) -> web.Response:
    caller = principal(request)
    account = await store.find_account(request.app[POOL], caller.tenant_id, caller.account_id)
    # A member who has earned nothing yet has no account row, but a balance all the same.
    return json_response(AccountView.of(account or Account(account_id=caller.account_id, balance=0)))


async def get_my_ledger(request: web.Request) -> web.Response:
    caller = principal(request)
    query = read_query(request, LedgerQuery)
    entries = await store.ledger(request.app[POOL], caller.tenant_id, caller.account_id, query.limit)
    return json_response(_ledger_view(entries))


async def member_account_owner(request: web.Request, caller: Principal) -> Owner | None:
    """The points account named in the path, in the caller's tenant; None when it has none there."""
    account = await store.find_account(request.app[POOL], caller.tenant_id, request.match_info["account_id"])
    if account is None:
        return None
    return Owner(caller.tenant_id, account_id=account.account_id, resource=account)


def _member_account(request: web.Request) -> Account:
    account = owned(request, Account)
    return account


async def get_member_account(request: web.Request) -> web.Response:
    return json_response(AccountView.of(_member_account(request)))


async def get_member_ledger(request: web.Request) -> web.Response:
    query = read_query(request, LedgerQuery)
    account = _member_account(request)
    entries = await store.ledger(
        request.app[POOL], principal(request).tenant_id, account.account_id, query.limit
    )
    return json_response(_ledger_view(entries))


ADMIN = roles("admin")
# Admins reach every member's account of the tenant; a member reaches her own; shops reach a
# customer only through her card (/cards/{number}). Someone else's account answers like a missing one.
ACCOUNT_READERS = grant(admin=TENANT, shop=SELF, partner=SELF, validator=SELF, seller=SELF, customer=SELF)

# `/accounts/me` comes before `/accounts/{account_id}`: routes match in this order.
ENDPOINTS = [
    Endpoint(
        "GET",
        "/accounts/me",
        get_my_account,
        "The caller's points balance",
        roles=AUTHENTICATED,
        response=AccountView,
    ),
    Endpoint(
        "GET",
        "/accounts/me/ledger",
        get_my_ledger,
        "The caller's points ledger, newest first",
        roles=AUTHENTICATED,
        response=LedgerView,
        query=LedgerQuery,
    ),
    Endpoint(
        "GET",
        "/accounts/{account_id}",
        get_member_account,
        "A member's points balance (admins and shops: any member's; a member: her own)",
        roles=ACCOUNT_READERS,
        response=AccountView,
        owner=member_account_owner,
    ),
    Endpoint(
        "GET",
        "/accounts/{account_id}/ledger",
        get_member_ledger,
        "A member's points ledger, newest first (admins and shops: any member's; a member: her own)",
        roles=ACCOUNT_READERS,
        response=LedgerView,
        owner=member_account_owner,
        query=LedgerQuery,
    ),
    Endpoint(
        "GET",
        "/rules/earning",
        get_earning_rule,
        "The tenant's earning rule (the default if none is set)",
        roles=ADMIN,
        response=EarningRuleView,
    ),
    Endpoint(
        "PUT",
        "/rules/earning",
        set_earning_rule,
        "Set the tenant's earning rule",
        roles=ADMIN,
        body=SetEarningRule,
        response=EarningRuleView,
    ),
]
