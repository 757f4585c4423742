"""Loyalty's HTTP API of the shop counter: a customer's card (its QR code), the card as staff see it,
visits and purchases recorded at a shop, the earning rules and what the counter picks from."""

from __future__ import annotations

import io
import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import segno
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints

from libs.common import idempotency
from libs.common.api import AUTHENTICATED, SELF, TENANT, Endpoint, Owner, grant, owned, path_uuid, roles
from libs.common.auth import Principal, principal
from libs.common.clock import now
from libs.common.errors import Invalid
from libs.common.http import json_response, read_json, read_query
from libs.common.limits import MAX_ORDER_TOTAL_MINOR
from libs.common.runtime import POOL
from services.loyalty import (
    counter,
    dashboard,
    directory,
    expiry,
    giftcards,
    journal,
    rewards,
    sponsors,
    store,
)
from services.loyalty.counter import NewVisit, Visit
from services.loyalty.dashboard import Period
from services.loyalty.directory import Member
from services.loyalty.expiry import ExpirySettings
from services.loyalty.journal import Line
from services.loyalty.rewards import MAX_REWARDS_AT_ONCE, Program, ProgramSpec
from services.loyalty.rules import MAX_IDS, Id, Rule, RuleSpec, VisitKind
from services.loyalty.sponsors import SponsorRule

ADMIN = roles("admin")
STAFF = grant(admin=TENANT, shop=TENANT)  # the manager and every shop's staff reach the tenant's cards
CARD_HOLDERS = grant(admin=TENANT, shop=TENANT, customer=SELF, partner=SELF, seller=SELF, validator=SELF)
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
QR_SCALE = 8  # pixels per module of the PNG
_PRIVATE = {"Cache-Control": "private, max-age=3600"}  # her card number: never in a shared cache


class VisitView(BaseModel):
    visit_id: uuid.UUID = Field(description="The visit's id")
    account_id: str = Field(description="The member")
    shop_id: str | None = Field(description="Where it was recorded; null: by the manager")
    kind: VisitKind = Field(description="visit or purchase")
    amount_minor: int = Field(description="The purchase's amount in minor units (0 for a visit)")
    currency: str = Field(description="ISO 4217")
    products: list[str] = Field(description="Catalog products named")
    categories: list[str] = Field(description="Catalog categories of the purchase")
    number: int = Field(description="Her how-many-th visit in the tenant")
    points: int = Field(description="Points the earning rules gave it")
    rewards: list[uuid.UUID] = Field(description="Reward programs taken with it")
    discount_minor: int = Field(description="What they took off the amount (the rules read the rest)")
    spent: int = Field(description="Points they cost")
    recorded_at: datetime = Field(description="When (UTC)")

    @classmethod
    def of(cls, visit: Visit) -> VisitView:
        return cls.model_validate(visit.model_dump(include=set(cls.model_fields)))


class VisitList(RootModel[list[VisitView]]):
    """Visits and purchases, newest first."""


class RecordedVisit(VisitView):
    balance: int = Field(description="Her points balance right after it")


class ProgramView(BaseModel):
    program_id: uuid.UUID = Field(description="The program")
    spec: ProgramSpec = Field(description="What it gives and costs")
    created_at: datetime = Field(description="When it was created")
    retired_at: datetime | None = Field(description="When it was retired; null while offered")

    @classmethod
    def of(cls, program: Program) -> ProgramView:
        return cls.model_validate(program.model_dump())


class ProgramList(RootModel[list[ProgramView]]):
    """Reward programs, oldest first."""


class ProgramQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retired: bool = Field(False, description="Include retired programs")


class CardView(BaseModel):
    """A member as staff see her through her card."""

    card_number: str = Field(description="Her card number")
    account_id: str = Field(description="The member (identity's account id)")
    professional: bool = Field(description="A professional customer")
    shop_id: str | None = Field(description="The shop that registered her")
    balance: int = Field(description="Her points balance")
    closed: bool = Field(description="Her account was deleted: she earns nothing any more")
    visits: list[VisitView] = Field(description="Her last visits and purchases, newest first")
    rewards: list[ProgramView] = Field(
        description="The rewards she can take with a purchase now, at the caller's shop"
    )


class MyCard(BaseModel):
    card_number: str | None = Field(
        description="The caller's card number, which her QR code holds (/cards/{number}/qr.png); null"
        " without a card"
    )
    balance: int = Field(description="Her points balance")


class RecordVisit(BaseModel):
    """A visit (the card scanned) or a purchase (with its amount, and optionally what was bought)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["visit", "purchase"] = Field(description="visit or purchase")
    amount_minor: int = Field(
        0, ge=0, le=MAX_ORDER_TOTAL_MINOR, description="The purchase's amount in minor units (cents)"
    )
    currency: Currency = Field("EUR", description="ISO 4217")
    products: list[Id] = Field([], max_length=MAX_IDS, description="Catalog products bought (ids)")
    categories: list[Id] = Field([], max_length=MAX_IDS, description="Catalog categories bought (ids)")
    shop_id: Id | None = Field(None, description="For the manager: the shop it happened at; staff: their own")
    rewards: list[uuid.UUID] = Field(
        [],
        max_length=MAX_REWARDS_AT_ONCE,
        description="Reward programs she takes with this purchase: their points are spent, their discounts"
        " taken off the amount before the earning rules read it",
    )


class RuleView(BaseModel):
    rule_id: uuid.UUID = Field(description="The rule")
    version: int = Field(description="Its version: 1, then +1 at each change")
    spec: RuleSpec = Field(description="What it awards and when")
    retired: bool = Field(description="Retired: it awards nothing any more")
    created_at: datetime = Field(description="When this version was written")

    @classmethod
    def of(cls, rule: Rule) -> RuleView:
        return cls.model_validate(rule.model_dump())


class RuleList(RootModel[list[RuleView]]):
    """Rules (or a rule's versions)."""


class RuleQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retired: bool = Field(False, description="Include retired rules")


class VisitQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shop_id: Id | None = Field(None, description="Only this shop's (staff: always their own)")
    card: Id | None = Field(None, description="Only the visits of this card's member")
    limit: int = Field(50, ge=1, le=500, description="At most this many")


class JournalQuery(VisitQuery):
    gift_card: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z -]{4,40}$")] | None = Field(
        None, description="Only the moves of the gift card with this number"
    )


class Journal(RootModel[list[Line]]):
    """Visits, purchases, codes used and gift card moves, newest first."""


class Choice(BaseModel):
    id: str = Field(description="The product or category id")
    name: str = Field(description="Its name")


class CounterChoices(BaseModel):
    """What staff pick from when recording a purchase, and the tenant's shops."""

    products: list[Choice] = Field(description="Active catalog products, by name")
    categories: list[Choice] = Field(description="Catalog categories, by name")
    shops: list[Choice] = Field(description="The tenant's shops, by name")


# --- cards ---


async def card_owner(request: web.Request, caller: Principal) -> Owner | None:
    """The member whose card number is in the path, in the caller's tenant."""
    number = request.match_info["number"].strip().upper()
    found = await directory.member_by_card(request.app[POOL], caller.tenant_id, number)
    if found is None:
        return None
    return Owner(caller.tenant_id, account_id=found.account_id, resource=found)


async def get_card(request: web.Request) -> web.Response:
    member = owned(request, Member)
    caller = principal(request)
    tenant_id = caller.tenant_id
    pool = request.app[POOL]
    account = await store.find_account(pool, tenant_id, member.account_id)
    last = await counter.visits(pool, tenant_id, account_id=member.account_id, limit=5)
    shop_id = None if caller.has_role("admin") else caller.organisation_id
    offered = await _available(request, member, account.balance if account else 0, shop_id)
    assert member.card_number is not None
    return json_response(
        CardView(
            card_number=member.card_number,
            account_id=member.account_id,
            professional=member.professional,
            shop_id=member.shop_id,
            balance=account.balance if account else 0,
            closed=bool(account and account.closed),
            visits=[VisitView.of(v) for v in last],
            rewards=offered,
        )
    )


async def _available(
    request: web.Request, member: Member, balance: int, shop_id: str | None
) -> list[ProgramView]:
    """The rewards a member can take with a purchase now, at this shop (any, for None)."""
    pool, tenant_id = request.app[POOL], principal(request).tenant_id
    standing = await counter.standing(pool, tenant_id, member, balance, shop_id)
    return [
        ProgramView.of(p) for p in await rewards.programs(pool, tenant_id) if rewards.available(p, standing)
    ]


async def get_my_rewards(request: web.Request) -> web.Response:
    caller = principal(request)
    pool = request.app[POOL]
    member = await directory.member(pool, caller.tenant_id, caller.account_id)
    account = await store.find_account(pool, caller.tenant_id, caller.account_id)
    if member is None or account is None or account.closed:
        return json_response(ProgramList([]))
    return json_response(ProgramList(await _available(request, member, account.balance, None)))


async def list_programs(request: web.Request) -> web.Response:
    query = read_query(request, ProgramQuery)
    found = await rewards.programs(request.app[POOL], principal(request).tenant_id, retired=query.retired)
    return json_response(ProgramList([ProgramView.of(p) for p in found]))


async def create_program(request: web.Request) -> web.Response:
    spec = await read_json(request, ProgramSpec)
    conn = await idempotency.once(request, spec)
    program = await rewards.add_program(conn, principal(request).tenant_id, spec, now(request))
    return json_response(ProgramView.of(program), status=201)


async def program_owner(request: web.Request, caller: Principal) -> Owner | None:
    program_id = path_uuid(request, "program_id")
    found = await rewards.program(request.app[POOL], caller.tenant_id, program_id) if program_id else None
    return Owner(caller.tenant_id, resource=found) if found else None


async def retire_program(request: web.Request) -> web.Response:
    program = owned(request, Program)
    retired = await rewards.retire_program(
        request.app[POOL], principal(request).tenant_id, program.program_id, now(request)
    )
    assert retired is not None, "found by its owner lookup"
    return json_response(ProgramView.of(retired))


async def _counter_shop(request: web.Request, named: str | None) -> str | None:
    """The shop a visit is recorded at: staff's own, or the one the manager names (or none)."""
    caller = principal(request)
    shops = await directory.shops(request.app[POOL], caller.tenant_id)
    if not caller.has_role("admin"):
        if named is not None and named != caller.organisation_id:
            raise Invalid.field("shop_id", "staff record visits at their own shop", "not_your_shop")
        return caller.organisation_id if caller.organisation_id in shops else None
    if named is not None and named not in shops:
        raise Invalid.field("shop_id", "no such shop in this tenant", "unknown_shop")
    return named


async def record_visit(request: web.Request) -> web.Response:
    caller = principal(request)
    member = owned(request, Member)
    body = await read_json(request, RecordVisit)
    if body.kind == "visit" and (body.amount_minor or body.products or body.categories):
        raise Invalid.field("kind", "a visit has no amount nor goods: record a purchase", "visit_with_goods")
    if body.kind == "visit" and body.rewards:
        raise Invalid.field(
            "rewards", "a reward goes with a purchase: record its amount", "reward_without_purchase"
        )
    shop_id = await _counter_shop(request, body.shop_id)
    conn = await idempotency.once(request, body)
    new = NewVisit(
        **body.model_dump(exclude={"shop_id", "products", "categories", "rewards"}),
        products=tuple(body.products),
        categories=tuple(body.categories),
        rewards=tuple(body.rewards),
        shop_id=shop_id,
        recorded_by=caller.account_id,
    )
    visit = await counter.record_visit(conn, caller.tenant_id, member, new, now(request))
    assert visit.balance is not None, "a visit just recorded knows the balance after it"
    return json_response(RecordedVisit(**VisitView.of(visit).model_dump(), balance=visit.balance), status=201)


async def get_my_card(request: web.Request) -> web.Response:
    caller = principal(request)
    pool = request.app[POOL]
    member = await directory.member(pool, caller.tenant_id, caller.account_id)
    account = await store.find_account(pool, caller.tenant_id, caller.account_id)
    number = member.card_number if member else None
    return json_response(MyCard(card_number=number, balance=account.balance if account else 0))


def _card_number(request: web.Request) -> str:
    number = owned(request, Member).card_number
    assert number is not None, "found by its card"
    return number


async def get_card_png(request: web.Request) -> web.Response:
    png = io.BytesIO()
    segno.make(_card_number(request), error="m").save(png, kind="png", scale=QR_SCALE)
    return web.Response(body=png.getvalue(), content_type="image/png", headers=_PRIVATE)


async def get_card_svg(request: web.Request) -> web.Response:
    """A standalone SVG document (with its namespace: an <img> shows nothing without it)."""
    number = _card_number(request)
    svg = io.BytesIO()
    segno.make(number, error="m").save(svg, kind="svg", scale=QR_SCALE, title=number, xmldecl=False)
    return web.Response(body=svg.getvalue(), content_type="image/svg+xml", headers=_PRIVATE)


# --- visits, rules, choices ---


def _shop_scope(request: web.Request, asked: str | None) -> str | None:
    """Whose journal: the manager's pick (None: every shop); staff only ever their own shop's."""
    caller = principal(request)
    return asked if caller.has_role("admin") else caller.organisation_id or "-"


async def _member_of(request: web.Request, card: str | None) -> str | None:
    """The account of the card searched for; '-' (nobody) for an unknown card."""
    if card is None:
        return None
    member = await directory.member_by_card(request.app[POOL], principal(request).tenant_id, card)
    return member.account_id if member else "-"


async def list_visits(request: web.Request) -> web.Response:
    query = read_query(request, VisitQuery)
    found = await counter.visits(
        request.app[POOL],
        principal(request).tenant_id,
        account_id=await _member_of(request, query.card),
        shop_id=_shop_scope(request, query.shop_id),
        limit=query.limit,
    )
    return json_response(VisitList([VisitView.of(v) for v in found]))


async def get_journal(request: web.Request) -> web.Response:
    query = read_query(request, JournalQuery)
    found = await journal.lines(
        request.app[POOL],
        principal(request).tenant_id,
        account_id=await _member_of(request, query.card),
        shop_id=_shop_scope(request, query.shop_id),
        gift_card=giftcards.normalise(query.gift_card) if query.gift_card else None,
        limit=query.limit,
    )
    return json_response(Journal(found))


async def list_rules(request: web.Request) -> web.Response:
    query = read_query(request, RuleQuery)
    found = await counter.current_rules(
        request.app[POOL], principal(request).tenant_id, retired=query.retired
    )
    return json_response(RuleList([RuleView.of(rule) for rule in found]))


async def create_rule(request: web.Request) -> web.Response:
    spec = await read_json(request, RuleSpec)
    conn = await idempotency.once(request, spec)
    rule = await counter.write_rule(conn, principal(request).tenant_id, uuid.uuid4(), spec, now(request))
    return json_response(RuleView.of(rule), status=201)


async def rule_owner(request: web.Request, caller: Principal) -> Owner | None:
    rule_id = path_uuid(request, "rule_id")
    versions = await counter.rule_versions(request.app[POOL], caller.tenant_id, rule_id) if rule_id else []
    return (
        Owner(caller.tenant_id, resource=RuleList([RuleView.of(r) for r in versions])) if versions else None
    )


async def get_rule(request: web.Request) -> web.Response:
    return json_response(owned(request, RuleList))


async def change_rule(request: web.Request) -> web.Response:
    spec = await read_json(request, RuleSpec)
    latest = owned(request, RuleList).root[0]
    async with request.app[POOL].acquire() as conn, conn.transaction():
        rule = await counter.write_rule(
            conn, principal(request).tenant_id, latest.rule_id, spec, now(request)
        )
    return json_response(RuleView.of(rule))


async def retire_rule(request: web.Request) -> web.Response:
    latest = owned(request, RuleList).root[0]
    if latest.retired:
        return json_response(latest)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        rule = await counter.write_rule(
            conn, principal(request).tenant_id, latest.rule_id, latest.spec, now(request), retired=True
        )
    return json_response(RuleView.of(rule))


async def get_choices(request: web.Request) -> web.Response:
    tenant_id = principal(request).tenant_id
    pool = request.app[POOL]
    locale = request.query.get("locale", "fr")
    categories = await directory.categories(pool, tenant_id)
    names = {cid: n.get(locale) or next(iter(n.values()), cid) for cid, n in categories.items()}
    return json_response(
        CounterChoices(
            products=[
                Choice(id=str(p.product_id), name=p.name) for p in await directory.products(pool, tenant_id)
            ],
            categories=[Choice(id=cid, name=name) for cid, name in sorted(names.items(), key=lambda c: c[1])],
            shops=[
                Choice(id=sid, name=name) for sid, name in (await directory.shops(pool, tenant_id)).items()
            ],
        )
    )


class DashboardQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: date | None = Field(
        None, description="First day, in the tenant's time zone; default: 29 days before `until`"
    )
    until: date | None = Field(None, description="Last day, included; default: the tenant's today")
    shop_id: Id | None = Field(None, description="One shop; absent: every shop")
    period: Period = Field("day", description="day, week or month")


async def _dashboard(request: web.Request) -> dashboard.Dashboard:
    q = read_query(request, DashboardQuery)
    tenant_id = principal(request).tenant_id
    pool = request.app[POOL]
    zone = await directory.time_zone(pool, tenant_id)
    until = q.until or now(request).astimezone(ZoneInfo(zone)).date()
    since = q.since or until - timedelta(days=29)
    if until < since:
        raise Invalid.field("until", "until comes before since", "range")
    if (until - since).days > dashboard.MAX_DAYS:
        raise Invalid.field("since", f"at most {dashboard.MAX_DAYS} days at once", "range")
    return await dashboard.dashboard(pool, tenant_id, since, until, q.shop_id, q.period, zone)


async def get_dashboard(request: web.Request) -> web.Response:
    return json_response(await _dashboard(request))


async def get_dashboard_csv(request: web.Request) -> web.Response:
    board = await _dashboard(request)
    headers = {"Content-Disposition": f'attachment; filename="dashboard-{board.since}-{board.until}.csv"'}
    return web.Response(text=dashboard.as_csv(board), content_type="text/csv", headers=headers)


async def get_expiry(request: web.Request) -> web.Response:
    return json_response(await expiry.settings_of(request.app[POOL], principal(request).tenant_id))


async def set_expiry(request: web.Request) -> web.Response:
    body = await read_json(request, ExpirySettings)
    stored = await expiry.set_settings(request.app[POOL], principal(request).tenant_id, body, now(request))
    return json_response(stored)


async def get_sponsor_rule(request: web.Request) -> web.Response:
    return json_response(await sponsors.rule_of(request.app[POOL], principal(request).tenant_id))


async def set_sponsor_rule(request: web.Request) -> web.Response:
    body = await read_json(request, SponsorRule)
    stored = await sponsors.set_rule(request.app[POOL], principal(request).tenant_id, body, now(request))
    return json_response(stored)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/settings/sponsor",
        get_sponsor_rule,
        "What sponsors earn on their team's confirmed orders: a share of each recruit's eligible amount"
        " in points, and a bonus on a recruit's first order",
        roles=ADMIN,
        response=SponsorRule,
    ),
    Endpoint(
        "PUT",
        "/settings/sponsor",
        set_sponsor_rule,
        "Set what sponsors earn on their team's orders (sponsor points: a pot apart from purchase points)",
        roles=ADMIN,
        body=SponsorRule,
        response=SponsorRule,
    ),
    Endpoint(
        "GET",
        "/dashboard",
        get_dashboard,
        "Customers, visits, points, rewards and gift cards per period, of a shop or every shop",
        roles=ADMIN,
        query=DashboardQuery,
        response=dashboard.Dashboard,
    ),
    Endpoint(
        "GET",
        "/dashboard.csv",
        get_dashboard_csv,
        "The dashboard's series as CSV, one row per period",
        roles=ADMIN,
        query=DashboardQuery,
    ),
    Endpoint(
        "GET",
        "/settings/expiry",
        get_expiry,
        "When the tenant's points expire, and when members are warned",
        roles=ADMIN,
        response=ExpirySettings,
    ),
    Endpoint(
        "PUT",
        "/settings/expiry",
        set_expiry,
        "Set when points expire (months after they were earned, oldest first; null: never)",
        roles=ADMIN,
        body=ExpirySettings,
        response=ExpirySettings,
    ),
    Endpoint(
        "GET",
        "/rewards",
        get_my_rewards,
        "The rewards the caller can take with her next purchase at a shop",
        roles=AUTHENTICATED,
        response=ProgramList,
    ),
    Endpoint(
        "GET",
        "/counter/programs",
        list_programs,
        "The tenant's reward programs",
        roles=STAFF,
        query=ProgramQuery,
        response=ProgramList,
    ),
    Endpoint(
        "POST",
        "/counter/programs",
        create_program,
        "Add a reward program: a discount, a cashback or a gift, for points or every n visits",
        roles=ADMIN,
        body=ProgramSpec,
        response=ProgramView,
        status=201,
        idempotent=True,
    ),
    Endpoint(
        "DELETE",
        "/counter/programs/{program_id}",
        retire_program,
        "Retire a reward program: it is offered no more (what was taken stays)",
        roles=ADMIN,
        response=ProgramView,
        owner=program_owner,
    ),
    Endpoint(
        "GET",
        "/accounts/me/card",
        get_my_card,
        "The caller's loyalty card number (null without a card) and her balance",
        roles=AUTHENTICATED,
        response=MyCard,
    ),
    Endpoint(
        "GET",
        "/cards/{number}/qr.png",
        get_card_png,
        "A card's number as a QR code (PNG) to show at the counter (a member: her own card)",
        roles=CARD_HOLDERS,
        owner=card_owner,
    ),
    Endpoint(
        "GET",
        "/cards/{number}/qr.svg",
        get_card_svg,
        "A card's number as a QR code (SVG), for a printable card (a member: her own card)",
        roles=CARD_HOLDERS,
        owner=card_owner,
    ),
    Endpoint(
        "GET",
        "/cards/{number}",
        get_card,
        "A member found by her card number, as staff see her: balance and last visits",
        roles=STAFF,
        response=CardView,
        owner=card_owner,
    ),
    Endpoint(
        "POST",
        "/cards/{number}/visits",
        record_visit,
        "Record a visit or a purchase of the card's member at the caller's shop; the earning rules award it",
        roles=STAFF,
        body=RecordVisit,
        response=RecordedVisit,
        status=201,
        idempotent=True,
        owner=card_owner,
        problems={409: "the member's account is closed"},
    ),
    Endpoint(
        "GET",
        "/visits",
        list_visits,
        "The transaction journal: visits and purchases, newest first (staff: their shop's; the manager: any)",
        roles=STAFF,
        query=VisitQuery,
        response=VisitList,
    ),
    Endpoint(
        "GET",
        "/journal",
        get_journal,
        "The transaction journal: visits, purchases, codes used, gift cards sold and spent, newest first"
        " (staff: their shop's; the manager: any); searched by a customer's card or a gift card's number",
        roles=STAFF,
        query=JournalQuery,
        response=Journal,
    ),
    Endpoint(
        "GET",
        "/counter/choices",
        get_choices,
        "What the counter picks from: the catalog's active products and categories, the tenant's shops",
        roles=STAFF,
        response=CounterChoices,
    ),
    Endpoint(
        "GET",
        "/counter/rules",
        list_rules,
        "The tenant's earning rules, each in its latest version",
        roles=ADMIN,
        query=RuleQuery,
        response=RuleList,
    ),
    Endpoint(
        "POST",
        "/counter/rules",
        create_rule,
        "Add an earning rule (version 1)",
        roles=ADMIN,
        body=RuleSpec,
        response=RuleView,
        status=201,
        idempotent=True,
    ),
    Endpoint(
        "GET",
        "/counter/rules/{rule_id}",
        get_rule,
        "Every version of a rule, newest first",
        roles=ADMIN,
        response=RuleList,
        owner=rule_owner,
    ),
    Endpoint(
        "PUT",
        "/counter/rules/{rule_id}",
        change_rule,
        "Change a rule: a new version from now on; what was earned stays",
        roles=ADMIN,
        body=RuleSpec,
        response=RuleView,
        owner=rule_owner,
        problems={409: "the rule changed at the same time"},
    ),
    Endpoint(
        "DELETE",
        "/counter/rules/{rule_id}",
        retire_rule,
        "Retire a rule: a last version that awards nothing",
        roles=ADMIN,
        response=RuleView,
        owner=rule_owner,
    ),
]
