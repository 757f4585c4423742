"""Ordering's SQL: the catalog read model (products, price lists, organisation terms) and orders."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.ordering.checkout import Address, Checkout, CheckoutSettings, PickupPoint
from services.ordering.domain import (
    AddressOwner,
    AddressRequest,
    BookAddress,
    Buyer,
    CartLine,
    CartTemplate,
    HistoryEntry,
    Offer,
    Order,
    OrganisationTerms,
    PricedLine,
    PriceList,
    PriceListTerms,
    Product,
    Quote,
    code_key,
)
from services.ordering.lifecycle import Action, Status

# --- products: the read model of catalog.product.v1 ---

# Serialises the claims on one code by events of different products (they run on other partitions).
_LOCK_CODE = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
_STORED_VERSION = "SELECT version FROM products WHERE tenant_id = $1 AND product_id = $2 FOR UPDATE"
_CODE_HOLDER = """
SELECT product_id, changed_at FROM products
WHERE tenant_id = $1 AND upper(code) = upper($2) AND code_held AND product_id <> $3
FOR UPDATE
"""
_RELEASE_CODE = "UPDATE products SET code_held = false WHERE tenant_id = $1 AND product_id = $2"
_UPSERT_PRODUCT = """
INSERT INTO products
    (tenant_id, product_id, code, name, price_minor, currency, active, version, changed_at, code_held,
     brand_id, vat_rate_bp, status)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (tenant_id, product_id) DO UPDATE
SET code = EXCLUDED.code, name = EXCLUDED.name, price_minor = EXCLUDED.price_minor,
    currency = EXCLUDED.currency, active = EXCLUDED.active, version = EXCLUDED.version,
    changed_at = EXCLUDED.changed_at, code_held = EXCLUDED.code_held, brand_id = EXCLUDED.brand_id,
    vat_rate_bp = EXCLUDED.vat_rate_bp, status = EXCLUDED.status
WHERE products.version < EXCLUDED.version
"""


async def record_product(
    conn: asyncpg.Connection, tenant_id: str, product: Product, version: int, changed_at: datetime
) -> bool:
    """Keep the product's state if `version` is newer than the one held; True when it was kept.

    If another product holds the code, the one whose catalog event is more recent keeps it.
    """
    await conn.execute(_LOCK_CODE, f"ordering.product-code:{tenant_id}:{code_key(product.code)}")
    stored = await conn.fetchval(_STORED_VERSION, tenant_id, product.product_id)
    if stored is not None and stored >= version:
        return False
    holder = await conn.fetchrow(_CODE_HOLDER, tenant_id, product.code, product.product_id)
    held = holder is None or holder["changed_at"] <= changed_at
    if holder is not None and held:
        await conn.execute(_RELEASE_CODE, tenant_id, holder["product_id"])
    await conn.execute(
        _UPSERT_PRODUCT,
        tenant_id,
        product.product_id,
        product.code,
        product.name,
        product.price_minor,
        product.currency,
        product.active,
        version,
        changed_at,
        held,
        product.brand_id,
        product.vat_rate_bp,
        product.status,
    )
    return True


# --- price lists: the read model of catalog.price_list.v1 ---

_UPSERT_PRICE_LIST = """
INSERT INTO price_lists
    (tenant_id, price_list_id, scope, target_id, brand_id, currency, valid_from, valid_until, active, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (tenant_id, price_list_id) DO UPDATE
SET scope = EXCLUDED.scope, target_id = EXCLUDED.target_id, brand_id = EXCLUDED.brand_id,
    currency = EXCLUDED.currency, valid_from = EXCLUDED.valid_from, valid_until = EXCLUDED.valid_until,
    active = EXCLUDED.active, version = EXCLUDED.version
WHERE price_lists.version < EXCLUDED.version
RETURNING true
"""
_DELETE_PRICES = "DELETE FROM price_list_prices WHERE tenant_id = $1 AND price_list_id = $2"
_INSERT_PRICES = """
INSERT INTO price_list_prices (tenant_id, price_list_id, product_id, price_minor)
SELECT $1, $2, product_id, price_minor FROM unnest($3::uuid[], $4::bigint[]) AS p (product_id, price_minor)
"""


async def record_price_list(
    conn: asyncpg.Connection, tenant_id: str, price_list: PriceList, version: int
) -> bool:
    """Keep the list's state if `version` is newer than the one held; True when it was kept.

    A withdrawn list keeps its row (its version) and loses its prices: it prices nothing any more.
    """
    kept = await conn.fetchval(
        _UPSERT_PRICE_LIST,
        tenant_id,
        price_list.price_list_id,
        price_list.scope,
        price_list.target_id,
        price_list.brand_id,
        price_list.currency,
        price_list.valid_from,
        price_list.valid_until,
        price_list.active,
        version,
    )
    if not kept:
        return False
    await conn.execute(_DELETE_PRICES, tenant_id, price_list.price_list_id)
    if price_list.active and price_list.prices:
        await conn.execute(
            _INSERT_PRICES,
            tenant_id,
            price_list.price_list_id,
            list(price_list.prices),
            list(price_list.prices.values()),
        )
    return True


# --- organisation terms: the read model of catalog.organisation.v1 ---

_UPSERT_TERMS = """
INSERT INTO organisation_terms (tenant_id, organisation_id, group_id, restricted, entitlements, version)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (tenant_id, organisation_id) DO UPDATE
SET group_id = EXCLUDED.group_id, restricted = EXCLUDED.restricted,
    entitlements = EXCLUDED.entitlements, version = EXCLUDED.version
WHERE organisation_terms.version < EXCLUDED.version
RETURNING true
"""
_DELETE_ASSORTMENT = "DELETE FROM organisation_assortments WHERE tenant_id = $1 AND organisation_id = $2"
_INSERT_ASSORTMENT = """
INSERT INTO organisation_assortments (tenant_id, organisation_id, product_id)
SELECT $1, $2, product_id FROM unnest($3::uuid[]) AS a (product_id)
"""


async def record_terms(
    conn: asyncpg.Connection, tenant_id: str, terms: OrganisationTerms, version: int
) -> bool:
    """Keep the organisation's terms if `version` is newer than the one held; True when they were kept."""
    kept = await conn.fetchval(
        _UPSERT_TERMS,
        tenant_id,
        terms.organisation_id,
        terms.group_id,
        terms.assortment is not None,
        list(terms.entitlements),
        version,
    )
    if not kept:
        return False
    await conn.execute(_DELETE_ASSORTMENT, tenant_id, terms.organisation_id)
    if terms.assortment:
        await conn.execute(_INSERT_ASSORTMENT, tenant_id, terms.organisation_id, list(terms.assortment))
    return True


# --- what a submission reads: one statement for the products, the buyer's terms and the lists ---

# One row per (product, candidate list), or one row with null list columns for a product no list
# prices. $3 (the organisation) may be null: no terms, no group, no organisation list, no assortment.
# `aimed` holds the lists that could concern this buyer at $4 (active, not expired, aimed at her
# organisation, her group or the brand of a requested product): a handful, found by index whatever
# the number of other organisations' lists. Each product then probes the prices of those lists by
# primary key. Which list applies is `resolve_price`'s decision; the SQL only narrows the candidates.
# The plan is pinned (MATERIALIZED, OFFSET 0, a scalar subquery rather than EXISTS): the planner
# cannot tell how many codes match and, guessing many, would hash every price of the tenant or the
# whole assortment rather than probe the primary keys of the few products asked for.
_OFFERS = """
WITH terms AS MATERIALIZED (
    SELECT group_id, restricted FROM organisation_terms WHERE tenant_id = $1 AND organisation_id = $3
), wanted AS MATERIALIZED (
    SELECT product_id, code, name, price_minor, currency, active, brand_id, vat_rate_bp FROM products
    WHERE tenant_id = $1 AND code_held
      AND upper(code) = ANY (ARRAY(SELECT upper(c) FROM unnest($2::text[]) AS c))
), aimed AS MATERIALIZED (
    SELECT price_list_id, scope, target_id, valid_from, valid_until, currency FROM price_lists
    WHERE tenant_id = $1 AND active AND (valid_until IS NULL OR valid_until > $4)
      AND (   (scope = 'organisation' AND target_id = $3::text)
           OR (scope = 'group' AND target_id = (SELECT group_id FROM terms))
           OR (scope = 'brand' AND target_id = ANY (ARRAY(SELECT brand_id::text FROM wanted))))
)
SELECT w.product_id, w.code, w.name, w.price_minor, w.currency, w.active, w.brand_id, w.vat_rate_bp,
       (SELECT group_id FROM terms) AS group_id,
       NOT coalesce((SELECT restricted FROM terms), false) OR coalesce((
           SELECT true FROM organisation_assortments oa
           WHERE oa.tenant_id = $1 AND oa.organisation_id = $3 AND oa.product_id = w.product_id
       ), false) AS in_assortment,
       l.price_list_id, l.scope, l.target_id, l.valid_from, l.valid_until,
       l.currency AS list_currency, l.price_minor AS list_price_minor
FROM wanted w
LEFT JOIN LATERAL (
    SELECT a.price_list_id, a.scope, a.target_id, a.valid_from, a.valid_until, a.currency, pp.price_minor
    FROM aimed a
    JOIN price_list_prices pp
      ON pp.tenant_id = $1 AND pp.product_id = w.product_id AND pp.price_list_id = a.price_list_id
    WHERE a.scope <> 'brand' OR a.target_id = w.brand_id::text
    OFFSET 0
) l ON true
"""

_PRODUCT_COLUMNS = (
    "product_id",
    "code",
    "name",
    "price_minor",
    "currency",
    "active",
    "brand_id",
    "vat_rate_bp",
)


async def offers_by_code(
    conn: asyncpg.Connection,
    tenant_id: str,
    codes: Sequence[str],
    *,
    organisation_id: str | None,
    at: datetime,
    seller: bool = False,
) -> tuple[Buyer, dict[str, Offer]]:
    """The buyer (the organisation and its group, a seller's discount) and, keyed by `code_key`, the
    tenant's products holding these codes with whether the buyer may order them and the lists that
    may price them at `at`.
    """
    rows = await conn.fetch(_OFFERS, tenant_id, list(codes), organisation_id, at)
    discount = await conn.fetchval(_SELLER_DISCOUNT, tenant_id) if seller else None
    products: dict[uuid.UUID, Product] = {}
    in_assortment: dict[uuid.UUID, bool] = {}
    lists: dict[uuid.UUID, list[PriceListTerms]] = {}
    group_id: str | None = None
    for row in rows:
        product_id = row["product_id"]
        if product_id not in products:
            products[product_id] = Product(**{column: row[column] for column in _PRODUCT_COLUMNS})
            in_assortment[product_id] = row["in_assortment"]
            lists[product_id] = []
            group_id = row["group_id"]
        if row["price_list_id"] is not None:
            lists[product_id].append(
                PriceListTerms(
                    list_id=str(row["price_list_id"]),
                    scope=row["scope"],
                    target_id=row["target_id"],
                    valid_from=row["valid_from"],
                    valid_until=row["valid_until"],
                    price_minor=row["list_price_minor"],
                    currency=row["list_currency"],
                )
            )
    offers = {
        code_key(product.code): Offer(product, in_assortment[pid], tuple(lists[pid]))
        for pid, product in products.items()
    }
    return Buyer(organisation_id=organisation_id, group_id=group_id, seller_discount_bp=discount or 0), offers


_SELLER_DISCOUNT = "SELECT seller_discount_bp FROM seller_discounts WHERE tenant_id = $1"
_RECORD_SELLER_DISCOUNT = """
INSERT INTO seller_discounts (tenant_id, seller_discount_bp, version) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id) DO UPDATE
SET seller_discount_bp = EXCLUDED.seller_discount_bp, version = EXCLUDED.version
WHERE seller_discounts.version < EXCLUDED.version
"""


async def record_seller_discount(
    conn: asyncpg.Connection, tenant_id: str, discount_bp: int, version: int
) -> None:
    """Keep the tenant's seller discount if `version` is newer than the one held."""
    await conn.execute(_RECORD_SELLER_DISCOUNT, tenant_id, discount_bp, version)


# --- orders ---


def _insert_lines(first: int, offset: int = 0) -> str:
    """INSERT of the lines of order $1 from the arrays of `_line_arrays`, parameters `first` onwards,
    numbered from `offset` + 1."""
    p = [f"${first + n}" for n in range(9)]
    return f"""
INSERT INTO order_lines
    (order_id, line_no, product_id, code, name, quantity, unit_price_minor, line_total_minor, price_list_id,
     vat_rate_bp, instead_of_fee)
SELECT $1, {offset} + line.no, line.product_id, line.code, line.name, line.quantity, line.unit_price_minor,
       line.line_total_minor, line.price_list_id, line.vat_rate_bp, line.instead_of_fee
FROM unnest({p[0]}::uuid[], {p[1]}::text[], {p[2]}::text[], {p[3]}::integer[], {p[4]}::bigint[],
            {p[5]}::bigint[], {p[6]}::uuid[], {p[7]}::integer[], {p[8]}::boolean[])
     WITH ORDINALITY
     AS line (product_id, code, name, quantity, unit_price_minor, line_total_minor, price_list_id,
              vat_rate_bp, instead_of_fee, no)
"""


def _line_arrays(lines: Sequence[PricedLine]) -> list[list[Any]]:
    """The lines as the column arrays `_insert_lines` reads: one round trip whatever their number."""
    return [
        [line.product_id for line in lines],
        [line.code for line in lines],
        [line.name for line in lines],
        [line.quantity for line in lines],
        [line.unit_price_minor for line in lines],
        [line.line_total_minor for line in lines],
        [line.price_list_id for line in lines],
        [line.vat_rate_bp for line in lines],
        [line.instead_of_fee for line in lines],
    ]


# The order, its lines and its first history entry in one statement: one round trip, whatever the
# number of lines. The lines' foreign key is checked at the end of the statement, when the order is there.
_INSERT_ORDER = """
WITH new_order AS (
    INSERT INTO orders
        (order_id, tenant_id, account_id, organisation_id, status, total_minor, currency, submitted_at,
         updated_at, version, reference, checkout)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, 1, $9, $10)
), history AS (
    INSERT INTO order_history (order_id, seq, status, action, by_account, at)
    VALUES ($1, 1, $5, $11, $3, $8)
)""" + _insert_lines(12)


def _checkout_json(order: Order) -> str:
    return order.checkout.model_dump_json() if order.checkout else "{}"


async def add_order(conn: asyncpg.Connection, order: Order, action: Action) -> None:
    """Record a new order in its first state, reached by `action` (hold or confirm)."""
    await conn.execute(
        _INSERT_ORDER,
        order.order_id,
        order.tenant_id,
        order.account_id,
        order.organisation_id,
        order.status,
        order.total_minor,
        order.currency,
        order.submitted_at,
        order.reference,
        _checkout_json(order),
        action,
        *_line_arrays(order.lines),
    )


async def set_checkout(conn: asyncpg.Connection, order_id: uuid.UUID, checkout: Checkout) -> None:
    """What the order records of its checkout, changed (what loyalty pays of it, once known)."""
    await conn.execute(
        "UPDATE orders SET checkout = $2 WHERE order_id = $1", order_id, checkout.model_dump_json()
    )


# A change of state applies only to the version it was decided on: a concurrent decision that
# landed first makes it match no row.
# The move rings the orders' announcements at commit (who waits on the order looks again).
_MOVE_ORDER = """
WITH moved AS (
    UPDATE orders SET status = $3, version = version + 1, updated_at = $4
    WHERE tenant_id = $1 AND order_id = $2 AND version = $5
    RETURNING order_id, pg_notify('comptoir_order_' || current_schema(), order_id::text)
)
INSERT INTO order_history (order_id, seq, status, action, by_account, reason, at)
SELECT order_id, (SELECT coalesce(max(seq), 0) + 1 FROM order_history WHERE order_id = $2), $3, $6, $7, $8, $4
FROM moved
RETURNING true
"""


async def move_order(
    conn: asyncpg.Connection,
    order: Order,
    status: Status,
    action: Action,
    *,
    at: datetime,
    by_account: str | None,
    reason: str | None = None,
) -> bool:
    """Move the order (as read, at its version) to `status`; False when it changed since it was read."""
    moved = await conn.fetchval(
        _MOVE_ORDER, order.tenant_id, order.order_id, status, at, order.version, action, by_account, reason
    )
    return bool(moved)


# The new lines are numbered out of the old ones' way (the statement's parts see one snapshot), then
# renumbered.
_REPLACE_LINES = """
WITH gone AS (DELETE FROM order_lines WHERE order_id = $1), changed AS (
    UPDATE orders SET total_minor = $2, checkout = $3 WHERE order_id = $1
)""" + _insert_lines(4, offset=1_000_000)
_RENUMBER_LINES = (
    "UPDATE order_lines SET line_no = line_no - 1000000 WHERE order_id = $1 AND line_no > 1000000"
)


async def replace_lines(conn: asyncpg.Connection, order: Order) -> None:
    """The order's lines, total and checkout as a validator changed them."""
    await conn.execute(
        _REPLACE_LINES, order.order_id, order.total_minor, _checkout_json(order), *_line_arrays(order.lines)
    )
    await conn.execute(_RENUMBER_LINES, order.order_id)


_SET_ERP_REFERENCES = """
UPDATE orders SET erp_order_number = coalesce($3, erp_order_number),
                  invoice_reference = coalesce($4, invoice_reference)
WHERE tenant_id = $1 AND order_id = $2
"""


async def set_erp_references(
    conn: asyncpg.Connection, order: Order, erp_order_number: str | None, invoice_reference: str | None
) -> None:
    await conn.execute(
        _SET_ERP_REFERENCES, order.tenant_id, order.order_id, erp_order_number, invoice_reference
    )


_ORDER_COLUMNS = (
    "order_id, tenant_id, account_id, organisation_id, status, total_minor, currency, submitted_at,"
    " updated_at, version, reference, checkout"
)
_NEWEST_FIRST = "ORDER BY submitted_at DESC, order_id DESC"
_LINES = """
SELECT order_id, product_id, code, name, quantity, unit_price_minor, line_total_minor, price_list_id,
       vat_rate_bp, instead_of_fee
FROM order_lines WHERE order_id = ANY ($1::uuid[]) ORDER BY order_id, line_no
"""
_HISTORY = """
SELECT status, action, by_account, reason, at FROM order_history WHERE order_id = $1 ORDER BY seq
"""
# One order with its lines in one round trip: every read of an order (its page, a decision, a
# consumer's lock) pays one statement instead of two.
_ORDER_WITH_LINES = f"""
SELECT {_ORDER_COLUMNS}, (
    SELECT coalesce(json_agg(line ORDER BY line.line_no), '[]') FROM (
        SELECT line_no, product_id, code, name, quantity, unit_price_minor, line_total_minor,
               price_list_id, vat_rate_bp, instead_of_fee
        FROM order_lines WHERE order_lines.order_id = orders.order_id
    ) AS line
) AS lines
FROM orders WHERE tenant_id = $1 AND order_id = $2
"""


async def find_order(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, order_id: uuid.UUID, *, for_update: bool = False
) -> Order | None:
    """The tenant's order with its lines; whether the caller may see it is the guard's business."""
    row = await conn.fetchrow(_ORDER_WITH_LINES + (" FOR UPDATE" if for_update else ""), tenant_id, order_id)
    if row is None:
        return None
    fields = dict(row)
    return _order(fields, [PricedLine(**line) for line in json.loads(fields.pop("lines"))])


async def history(conn: asyncpg.Connection | asyncpg.Pool, order_id: uuid.UUID) -> list[HistoryEntry]:
    return [HistoryEntry(**dict(row)) for row in await conn.fetch(_HISTORY, order_id)]


@dataclass(frozen=True)
class OrderFilter:
    """Which of the tenant's orders a listing shows (each criterion, when given, narrows it)."""

    organisation_id: str | None = None
    account_id: str | None = None
    status: str | None = None
    reference: str | None = None  # the start of the customer's reference, whatever its case
    orderer: str | None = None  # the account that placed them
    since: datetime | None = None
    until: datetime | None = None  # exclusive


async def list_orders(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, which: OrderFilter, *, limit: int
) -> list[Order]:
    """The tenant's orders matching `which`, newest first. The statement names only the criteria
    given, so that each shape gets a plan using its own index (by account, organisation, status)."""
    where: list[str] = ["tenant_id = $1"]
    args: list[object] = [tenant_id]

    def match(condition: str, value: object) -> None:
        args.append(value)
        where.append(condition.format(f"${len(args)}"))

    if which.account_id is not None:
        match("account_id = {}", which.account_id)
    if which.organisation_id is not None:
        match("organisation_id = {}", which.organisation_id)
    if which.status is not None:
        match("status = {}", which.status)
    if which.reference:
        match("lower(reference) LIKE {} || '%'", which.reference.lower().replace("%", "").replace("_", ""))
    if which.orderer is not None:
        match("account_id = {}", which.orderer)
    if which.since is not None:
        match("submitted_at >= {}", which.since)
    if which.until is not None:
        match("submitted_at < {}", which.until)
    args.append(limit)
    statement = (
        f"SELECT {_ORDER_COLUMNS} FROM orders WHERE {' AND '.join(where)} {_NEWEST_FIRST} LIMIT ${len(args)}"
    )
    return await _with_lines(conn, await conn.fetch(statement, *args))


def _order(row: Any, lines: list[PricedLine]) -> Order:
    fields = dict(row)
    checkout = json.loads(fields.pop("checkout"))
    return Order(**fields, lines=lines, checkout=Checkout.model_validate(checkout) if checkout else None)


async def _with_lines(conn: asyncpg.Connection | asyncpg.Pool, rows: Sequence[Any]) -> list[Order]:
    lines: dict[uuid.UUID, list[PricedLine]] = {row["order_id"]: [] for row in rows}
    for line in await conn.fetch(_LINES, list(lines)):
        fields = dict(line)
        lines[fields.pop("order_id")].append(PricedLine(**fields))
    return [_order(row, lines[row["order_id"]]) for row in rows]


# --- identity's organisations and tenants ---

_RECORD_ORGANISATION = """
INSERT INTO organisations (tenant_id, organisation_id) VALUES ($1, $2) ON CONFLICT DO NOTHING
"""
_ORGANISATION_KNOWN = "SELECT true FROM organisations WHERE tenant_id = $1 AND organisation_id = $2"


async def record_organisation(conn: asyncpg.Connection, tenant_id: str, organisation_id: str) -> None:
    await conn.execute(_RECORD_ORGANISATION, tenant_id, organisation_id)


async def organisation_known(conn: asyncpg.Connection, tenant_id: str, organisation_id: str) -> bool:
    return bool(await conn.fetchval(_ORGANISATION_KNOWN, tenant_id, organisation_id))


# --- identity's memberships and the organisations' approval policies ---

_RECORD_MEMBERSHIP = """
INSERT INTO memberships (tenant_id, account_id, organisation_id, roles, changed_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant_id, account_id) DO UPDATE
SET organisation_id = EXCLUDED.organisation_id, roles = EXCLUDED.roles, changed_at = EXCLUDED.changed_at
WHERE memberships.changed_at <= EXCLUDED.changed_at
"""
_FORGET_MEMBERSHIP = "DELETE FROM memberships WHERE tenant_id = $1 AND account_id = $2"
_PUT_POLICY = """
INSERT INTO approval_policies (tenant_id, organisation_id, threshold_minor, changed_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, organisation_id) DO UPDATE
SET threshold_minor = EXCLUDED.threshold_minor, changed_at = EXCLUDED.changed_at
"""
_DELETE_POLICY = "DELETE FROM approval_policies WHERE tenant_id = $1 AND organisation_id = $2"


async def record_membership(
    conn: asyncpg.Connection,
    tenant_id: str,
    account_id: str,
    organisation_id: str | None,
    roles: Sequence[str],
    changed_at: datetime,
) -> None:
    await conn.execute(_RECORD_MEMBERSHIP, tenant_id, account_id, organisation_id, list(roles), changed_at)


async def forget_membership(conn: asyncpg.Connection, tenant_id: str, account_id: str) -> None:
    await conn.execute(_FORGET_MEMBERSHIP, tenant_id, account_id)


async def put_approval_policy(
    conn: asyncpg.Connection | asyncpg.Pool,
    tenant_id: str,
    organisation_id: str,
    threshold: int,
    at: datetime,
) -> None:
    await conn.execute(_PUT_POLICY, tenant_id, organisation_id, threshold, at)


async def delete_approval_policy(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, organisation_id: str
) -> None:
    await conn.execute(_DELETE_POLICY, tenant_id, organisation_id)


# --- what one checkout reads, in one round trip ---


@dataclass(frozen=True)
class CheckoutContext:
    """A tenant's checkout settings, time zone and closed days, with the default address of the
    buyer's book."""

    settings: CheckoutSettings
    zone: ZoneInfo
    closed: frozenset[date]
    default_address: Address | None


# Closed days from the day before `at` in UTC: they hold today in every time zone.
_CONTEXT = """
SELECT (SELECT settings FROM checkout_settings WHERE tenant_id = $1) AS settings,
       (SELECT time_zone FROM tenant_zones WHERE tenant_id = $1) AS time_zone,
       ARRAY(SELECT day FROM closed_days WHERE tenant_id = $1 AND day >= $2::date ORDER BY day) AS closed,
       (SELECT address FROM addresses
        WHERE tenant_id = $1 AND owner_kind = $3 AND owner_id = $4 AND is_default) AS default_address
"""
_APPROVAL = """
SELECT (SELECT threshold_minor FROM approval_policies WHERE tenant_id = $1 AND organisation_id = $2),
       ARRAY(SELECT account_id FROM memberships
             WHERE tenant_id = $1 AND organisation_id = $2 AND 'validator' = ANY (roles) ORDER BY account_id)
"""


async def checkout_context(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, book: AddressOwner, at: datetime
) -> CheckoutContext:
    row = await db.fetchrow(_CONTEXT, tenant_id, (at - timedelta(days=1)).date(), book.kind, book.id)
    assert row is not None
    return CheckoutContext(
        settings=CheckoutSettings.model_validate_json(row["settings"])
        if row["settings"]
        else CheckoutSettings(),
        zone=ZoneInfo(row["time_zone"] or "UTC"),  # identity's default until it announces the tenant's
        closed=frozenset(row["closed"]),
        default_address=Address.model_validate_json(row["default_address"])
        if row["default_address"]
        else None,
    )


async def approval_of(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, organisation_id: str
) -> tuple[int | None, list[str]]:
    """The organisation's approval threshold (None: no policy) and its validators."""
    row = await db.fetchrow(_APPROVAL, tenant_id, organisation_id)
    assert row is not None
    return row[0], list(row[1])


# --- checkout: the tenant's settings and zone, closed days, pick-up points, address books, quotes ---

_SETTINGS = "SELECT settings FROM checkout_settings WHERE tenant_id = $1"
_PUT_SETTINGS = """
INSERT INTO checkout_settings (tenant_id, settings, changed_at) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id) DO UPDATE SET settings = EXCLUDED.settings, changed_at = EXCLUDED.changed_at
"""
_ZONE = "SELECT time_zone FROM tenant_zones WHERE tenant_id = $1"
_RECORD_ZONE = """
INSERT INTO tenant_zones (tenant_id, time_zone, changed_at) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id) DO UPDATE SET time_zone = EXCLUDED.time_zone, changed_at = EXCLUDED.changed_at
WHERE tenant_zones.changed_at < EXCLUDED.changed_at
"""
_CLOSED_DAYS = "SELECT day, label FROM closed_days WHERE tenant_id = $1 AND day >= $2 ORDER BY day"
_ADD_CLOSED_DAY = """
INSERT INTO closed_days (tenant_id, day, label) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, day) DO UPDATE SET label = EXCLUDED.label
"""
_DELETE_CLOSED_DAY = "DELETE FROM closed_days WHERE tenant_id = $1 AND day = $2"


async def checkout_settings(db: asyncpg.Connection | asyncpg.Pool, tenant_id: str) -> CheckoutSettings:
    stored = await db.fetchval(_SETTINGS, tenant_id)
    return CheckoutSettings.model_validate_json(stored) if stored else CheckoutSettings()


async def put_checkout_settings(
    conn: asyncpg.Connection, tenant_id: str, settings: CheckoutSettings, at: datetime
) -> None:
    await conn.execute(_PUT_SETTINGS, tenant_id, settings.model_dump_json(), at)


async def tenant_zone(db: asyncpg.Connection | asyncpg.Pool, tenant_id: str) -> ZoneInfo:
    """The tenant's time zone as identity last published it; UTC (identity's default) until then."""
    name = await db.fetchval(_ZONE, tenant_id)
    return ZoneInfo(name or "UTC")


async def record_zone(conn: asyncpg.Connection, tenant_id: str, time_zone: str, changed_at: datetime) -> None:
    await conn.execute(_RECORD_ZONE, tenant_id, time_zone, changed_at)


async def closed_days(db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, since: date) -> dict[date, str]:
    return {row["day"]: row["label"] for row in await db.fetch(_CLOSED_DAYS, tenant_id, since)}


async def add_closed_day(conn: asyncpg.Connection, tenant_id: str, day: date, label: str) -> None:
    await conn.execute(_ADD_CLOSED_DAY, tenant_id, day, label)


async def delete_closed_day(conn: asyncpg.Connection, tenant_id: str, day: date) -> bool:
    return str(await conn.execute(_DELETE_CLOSED_DAY, tenant_id, day)) != "DELETE 0"


_PICKUP_POINTS = """
SELECT pickup_point_id, name, address FROM pickup_points WHERE tenant_id = $1 AND active ORDER BY name
"""
_PICKUP_POINT = """
SELECT pickup_point_id, name, address FROM pickup_points
WHERE tenant_id = $1 AND pickup_point_id = $2 AND active
"""
_ADD_PICKUP_POINT = """
INSERT INTO pickup_points (tenant_id, pickup_point_id, name, address) VALUES ($1, $2, $3, $4)
"""
# Orders keep a copy of their point: a point withdrawn stays on the orders that named it.
_WITHDRAW_PICKUP_POINT = """
UPDATE pickup_points SET active = false WHERE tenant_id = $1 AND pickup_point_id = $2 AND active
"""


def _pickup_point(row: Any) -> PickupPoint:
    return PickupPoint(
        pickup_point_id=row["pickup_point_id"],
        name=row["name"],
        address=Address.model_validate_json(row["address"]),
    )


async def pickup_points(db: asyncpg.Connection | asyncpg.Pool, tenant_id: str) -> list[PickupPoint]:
    return [_pickup_point(row) for row in await db.fetch(_PICKUP_POINTS, tenant_id)]


async def pickup_point(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, pickup_point_id: uuid.UUID
) -> PickupPoint | None:
    row = await db.fetchrow(_PICKUP_POINT, tenant_id, pickup_point_id)
    return _pickup_point(row) if row else None


async def add_pickup_point(conn: asyncpg.Connection, tenant_id: str, point: PickupPoint) -> None:
    await conn.execute(
        _ADD_PICKUP_POINT, tenant_id, point.pickup_point_id, point.name, point.address.model_dump_json()
    )


async def withdraw_pickup_point(conn: asyncpg.Connection, tenant_id: str, pickup_point_id: uuid.UUID) -> bool:
    return str(await conn.execute(_WITHDRAW_PICKUP_POINT, tenant_id, pickup_point_id)) != "UPDATE 0"


_ADDRESSES = """
SELECT address_id, owner_kind, owner_id, address, is_default FROM addresses
WHERE tenant_id = $1 AND owner_kind = $2 AND owner_id = $3 ORDER BY is_default DESC, created_at, address_id
"""
_ADDRESS = """
SELECT address_id, owner_kind, owner_id, address, is_default FROM addresses
WHERE tenant_id = $1 AND address_id = $2
"""
_CLEAR_DEFAULT = """
UPDATE addresses SET is_default = false
WHERE tenant_id = $1 AND owner_kind = $2 AND owner_id = $3 AND is_default AND address_id <> $4
"""
_PUT_ADDRESS = """
INSERT INTO addresses (tenant_id, address_id, owner_kind, owner_id, address, is_default, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (tenant_id, address_id) DO UPDATE SET address = EXCLUDED.address, is_default = EXCLUDED.is_default
"""
_DELETE_ADDRESS = "DELETE FROM addresses WHERE tenant_id = $1 AND address_id = $2"
_ADD_ADDRESS_REQUEST = """
INSERT INTO address_requests
    (tenant_id, request_id, order_id, account_id, organisation_id, address, requested_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
_ADDRESS_REQUEST_COLUMNS = "request_id, order_id, account_id, organisation_id, address, requested_at"
_ADDRESS_REQUESTS = f"""
SELECT {_ADDRESS_REQUEST_COLUMNS} FROM address_requests
WHERE tenant_id = $1 AND decision IS NULL ORDER BY requested_at, request_id
"""
_ADDRESS_REQUEST = (
    f"SELECT {_ADDRESS_REQUEST_COLUMNS} FROM address_requests WHERE tenant_id = $1 AND request_id = $2"
)
_DECIDE_ADDRESS_REQUEST = f"""
UPDATE address_requests SET decision = $3 WHERE tenant_id = $1 AND request_id = $2 AND decision IS NULL
RETURNING {_ADDRESS_REQUEST_COLUMNS}
"""


def _book_entry(row: Any) -> BookAddress:
    return BookAddress(
        address_id=row["address_id"],
        owner=AddressOwner(kind=row["owner_kind"], id=row["owner_id"]),
        address=Address.model_validate_json(row["address"]),
        is_default=row["is_default"],
    )


async def addresses(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, owner: AddressOwner
) -> list[BookAddress]:
    return [_book_entry(row) for row in await db.fetch(_ADDRESSES, tenant_id, owner.kind, owner.id)]


async def find_address(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, address_id: uuid.UUID
) -> BookAddress | None:
    row = await db.fetchrow(_ADDRESS, tenant_id, address_id)
    return _book_entry(row) if row else None


async def put_address(conn: asyncpg.Connection, tenant_id: str, entry: BookAddress, at: datetime) -> None:
    """Add or replace an address of a book; the one marked default becomes the only default."""
    owner = entry.owner
    if entry.is_default:
        await conn.execute(_CLEAR_DEFAULT, tenant_id, owner.kind, owner.id, entry.address_id)
    await conn.execute(
        _PUT_ADDRESS,
        tenant_id,
        entry.address_id,
        owner.kind,
        owner.id,
        entry.address.model_dump_json(),
        entry.is_default,
        at,
    )


async def delete_address(conn: asyncpg.Connection, tenant_id: str, address_id: uuid.UUID) -> None:
    await conn.execute(_DELETE_ADDRESS, tenant_id, address_id)


# The address a person gave identity has one id per account in her own book.
_IDENTITY_ADDRESS = uuid.UUID("6f1b0a52-9a55-4d3c-8f0e-3b7c2a1d9e40")
_KEEP_IDENTITY_ADDRESS = """
INSERT INTO addresses (tenant_id, address_id, owner_kind, owner_id, address, is_default, created_at)
VALUES ($1, $2, 'account', $3, $4,
        NOT EXISTS (SELECT 1 FROM addresses WHERE tenant_id = $1 AND owner_kind = 'account' AND owner_id = $3
                    AND is_default),
        $5)
ON CONFLICT (tenant_id, address_id) DO UPDATE SET address = EXCLUDED.address
"""
_ERASED = "SELECT true FROM erased_accounts WHERE tenant_id = $1 AND account_id = $2"


def _identity_address_id(tenant_id: str, account_id: str) -> uuid.UUID:
    return uuid.uuid5(_IDENTITY_ADDRESS, f"{tenant_id}:{account_id}")


async def keep_identity_address(
    conn: asyncpg.Connection, tenant_id: str, account_id: str, address: Address, at: datetime
) -> None:
    """Keep the person's identity address in her own book; nothing for an account identity deleted."""
    if await conn.fetchval(_ERASED, tenant_id, account_id):
        return
    address_id = _identity_address_id(tenant_id, account_id)
    await conn.execute(
        _KEEP_IDENTITY_ADDRESS, tenant_id, address_id, account_id, address.model_dump_json(), at
    )


async def forget_identity_address(conn: asyncpg.Connection, tenant_id: str, account_id: str) -> None:
    await conn.execute(_DELETE_ADDRESS, tenant_id, _identity_address_id(tenant_id, account_id))


async def add_address_request(conn: asyncpg.Connection, tenant_id: str, request: AddressRequest) -> None:
    await conn.execute(
        _ADD_ADDRESS_REQUEST,
        tenant_id,
        request.request_id,
        request.order_id,
        request.account_id,
        request.organisation_id,
        request.address.model_dump_json(),
        request.requested_at,
    )


def _address_request(row: Any) -> AddressRequest:
    return AddressRequest(
        request_id=row["request_id"],
        order_id=row["order_id"],
        account_id=row["account_id"],
        organisation_id=row["organisation_id"],
        address=Address.model_validate_json(row["address"]),
        requested_at=row["requested_at"],
    )


async def address_requests(db: asyncpg.Connection | asyncpg.Pool, tenant_id: str) -> list[AddressRequest]:
    """The requests waiting for the admin's decision, oldest first."""
    return [_address_request(row) for row in await db.fetch(_ADDRESS_REQUESTS, tenant_id)]


async def find_address_request(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, request_id: uuid.UUID
) -> AddressRequest | None:
    row = await db.fetchrow(_ADDRESS_REQUEST, tenant_id, request_id)
    return _address_request(row) if row else None


async def decide_address_request(
    conn: asyncpg.Connection, tenant_id: str, request_id: uuid.UUID, decision: str
) -> AddressRequest | None:
    """Record the decision on a waiting request; None when it was decided already."""
    row = await conn.fetchrow(_DECIDE_ADDRESS_REQUEST, tenant_id, request_id, decision)
    return _address_request(row) if row else None


# Quotes are kept a day past their expiry (a late confirmation still gets its new quote), then
# dropped by the statement that adds the next one.
_ADD_QUOTE = """
WITH dropped AS (DELETE FROM quotes WHERE expires_at < $6::timestamptz - interval '1 day')
INSERT INTO quotes (quote_id, tenant_id, account_id, quote, expires_at) VALUES ($1, $2, $3, $4, $5)
"""
_QUOTE = "SELECT quote, order_id FROM quotes WHERE tenant_id = $1 AND quote_id = $2"
_QUOTE_USED = "UPDATE quotes SET order_id = $2 WHERE quote_id = $1"


async def add_quote(conn: asyncpg.Connection, quote: Quote) -> None:
    await conn.execute(
        _ADD_QUOTE,
        quote.quote_id,
        quote.tenant_id,
        quote.account_id,
        quote.model_dump_json(),
        quote.expires_at,
        quote.created_at,
    )


async def find_quote(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, quote_id: uuid.UUID, *, for_update: bool = False
) -> tuple[Quote, uuid.UUID | None] | None:
    """The quote with the order it became (None while it was not confirmed), locked when asked."""
    row = await db.fetchrow(_QUOTE + (" FOR UPDATE" if for_update else ""), tenant_id, quote_id)
    return (Quote.model_validate_json(row["quote"]), row["order_id"]) if row else None


async def quote_used(conn: asyncpg.Connection, quote_id: uuid.UUID, order_id: uuid.UUID) -> None:
    await conn.execute(_QUOTE_USED, quote_id, order_id)


# --- carts ---

_CART = """
SELECT code, quantity FROM cart_lines WHERE tenant_id = $1 AND account_id = $2 ORDER BY added_at, code_key
"""
# Adding a code the cart holds adds to its quantity; the sum stays within a line's limit.
_ADD_TO_CART = """
INSERT INTO cart_lines (tenant_id, account_id, code_key, code, quantity, added_at)
SELECT $1, $2, upper(l.code), l.code, l.quantity, $5::timestamptz + l.position * interval '1 microsecond'
FROM unnest($3::text[], $4::int[]) WITH ORDINALITY AS l(code, quantity, position)
ON CONFLICT (tenant_id, account_id, code_key)
DO UPDATE SET quantity = cart_lines.quantity + EXCLUDED.quantity
RETURNING code, quantity
"""
_EMPTY_CART = "DELETE FROM cart_lines WHERE tenant_id = $1 AND account_id = $2"
_PRODUCT_CODES = "SELECT product_id, code FROM products WHERE tenant_id = $1 AND product_id = ANY($2::uuid[])"


async def cart(db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, account_id: str) -> list[CartLine]:
    rows = await db.fetch(_CART, tenant_id, account_id)
    return [CartLine(code=row["code"], quantity=row["quantity"]) for row in rows]


async def add_to_cart(
    conn: asyncpg.Connection, tenant_id: str, account_id: str, lines: Sequence[CartLine], at: datetime
) -> list[CartLine]:
    """The lines added (to the quantity of a code the cart holds, whatever its case): each line as
    it now stands."""
    rows = await conn.fetch(
        _ADD_TO_CART,
        tenant_id,
        account_id,
        [line.code for line in lines],
        [line.quantity for line in lines],
        at,
    )
    return [CartLine(code=row["code"], quantity=row["quantity"]) for row in rows]


async def replace_cart(
    conn: asyncpg.Connection, tenant_id: str, account_id: str, lines: Sequence[CartLine], at: datetime
) -> None:
    """The cart holds these lines from now on (a quantity changed, a line removed, or none left)."""
    await conn.execute(_EMPTY_CART, tenant_id, account_id)
    if lines:
        await add_to_cart(conn, tenant_id, account_id, lines, at)


_REMOVE_FROM_CART = (
    "DELETE FROM cart_lines WHERE tenant_id = $1 AND account_id = $2 AND code_key = ANY($3::text[])"
)


async def remove_from_cart(
    conn: asyncpg.Connection, tenant_id: str, account_id: str, keys: Sequence[str]
) -> None:
    """Take these lines (by `code_key`) out of the cart: those an order was placed for."""
    await conn.execute(_REMOVE_FROM_CART, tenant_id, account_id, list(keys))


async def product_codes(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The codes of these products of the tenant's catalog (those ordering knows)."""
    rows = await db.fetch(_PRODUCT_CODES, tenant_id, list(ids))
    return {row["product_id"]: row["code"] for row in rows}


# --- template baskets ---

_ADD_TEMPLATE = """
WITH template AS (
    INSERT INTO cart_templates (template_id, tenant_id, account_id, name, created_at)
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING template_id
)
INSERT INTO cart_template_lines (template_id, position, code, quantity)
SELECT t.template_id, l.position, l.code, l.quantity
FROM template t, unnest($6::text[], $7::int[]) WITH ORDINALITY AS l(code, quantity, position)
RETURNING template_id
"""
_TEMPLATE_NAMED = (
    "SELECT true FROM cart_templates WHERE tenant_id = $1 AND account_id = $2 AND lower(name) = lower($3)"
)
_TEMPLATES = """
SELECT t.template_id, t.tenant_id, t.account_id, t.name, t.created_at,
       coalesce(array_agg(l.code ORDER BY l.position) FILTER (WHERE l.code IS NOT NULL), '{{}}') AS codes,
       coalesce(array_agg(l.quantity ORDER BY l.position) FILTER (WHERE l.code IS NOT NULL), '{{}}')
           AS quantities
FROM cart_templates t LEFT JOIN cart_template_lines l USING (template_id)
WHERE t.tenant_id = $1 AND {which}
GROUP BY t.template_id ORDER BY t.name
"""
_TEMPLATES_OF_ACCOUNT = _TEMPLATES.format(which="t.account_id = $2")
_TEMPLATE = _TEMPLATES.format(which="t.template_id = $2")
_DELETE_TEMPLATE = "DELETE FROM cart_templates WHERE tenant_id = $1 AND template_id = $2"


async def template_named(conn: asyncpg.Connection, tenant_id: str, account_id: str, name: str) -> bool:
    return bool(await conn.fetchval(_TEMPLATE_NAMED, tenant_id, account_id, name))


async def add_template(conn: asyncpg.Connection, template: CartTemplate) -> None:
    lines = template.lines
    await conn.execute(
        _ADD_TEMPLATE,
        template.template_id,
        template.tenant_id,
        template.account_id,
        template.name,
        template.created_at,
        [line.code for line in lines],
        [line.quantity for line in lines],
    )


def _template(row: Any) -> CartTemplate:
    lines = [CartLine(code=c, quantity=q) for c, q in zip(row["codes"], row["quantities"], strict=True)]
    return CartTemplate(
        template_id=row["template_id"],
        tenant_id=row["tenant_id"],
        account_id=row["account_id"],
        name=row["name"],
        created_at=row["created_at"],
        lines=lines,
    )


async def templates(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, account_id: str
) -> list[CartTemplate]:
    return [_template(row) for row in await db.fetch(_TEMPLATES_OF_ACCOUNT, tenant_id, account_id)]


async def find_template(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, template_id: uuid.UUID
) -> CartTemplate | None:
    row = await db.fetchrow(_TEMPLATE, tenant_id, template_id)
    return _template(row) if row else None


async def delete_template(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, template_id: uuid.UUID
) -> None:
    await db.execute(_DELETE_TEMPLATE, tenant_id, template_id)
