"""Returns and claims: a buyer asks to send back some of a delivered order's lines (part of a line's
quantity too) with a reason and photos; the tenant's admin decides within the tenant's deadline
(overdue ones are flagged and come first in her queue): accepted, the goods' price including VAT is
credited to the buyer's balance; refused, with a reason. Each step is an event on
ordering.return.v1; loyalty takes back the points of what was returned."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from libs.common import outbox
from libs.common.errors import Conflict, FieldError, Invalid
from services.ordering import balance, store
from services.ordering.checkout import vat_breakdown
from services.ordering.domain import Order, code_key
from services.ordering.events import (
    SERVICE,
    ReturnAccepted,
    ReturnedLine,
    ReturnOpened,
    ReturnRefused,
)

ReturnStatus = Literal["requested", "accepted", "refused"]
MAX_PHOTOS = 5
MAX_PHOTO_BYTES = 5 * 1_048_576
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})


class Return(BaseModel):
    model_config = ConfigDict(frozen=True)

    return_id: uuid.UUID = Field(description="The return's id")
    tenant_id: str = Field(exclude=True)
    order_id: uuid.UUID = Field(description="The order the goods came with")
    account_id: str = Field(description="Who asked")
    organisation_id: str | None = Field(description="Her organisation, if any")
    status: ReturnStatus = Field(description="requested (waiting for the admin), accepted or refused")
    reason: str = Field(description="Why the buyer sends the goods back")
    lines: list[ReturnedLine] = Field(description="What goes back")
    currency: str = Field(description="ISO 4217 currency of the amounts")
    amount_minor: int = Field(description="The goods' price including VAT: what an acceptance credits")
    requested_at: datetime = Field(description="When it was asked (UTC)")
    due_at: datetime = Field(description="When the admin should have decided by (UTC)")
    decided_at: datetime | None = Field(description="When it was decided")
    refusal: str | None = Field(description="Why it was refused, for the buyer")
    photo_ids: list[uuid.UUID] = Field(description="Its photos, oldest first")

    def is_overdue(self, at: datetime) -> bool:
        return self.status == "requested" and at > self.due_at


def amount_incl_vat(lines: Sequence[ReturnedLine]) -> int:
    """The lines' price including VAT: their amounts plus VAT per rate, rounded half up once per rate
    (the order's own rule)."""
    amounts = [(line.quantity * line.unit_price_minor, line.vat_rate_bp) for line in lines]
    return sum(a for a, _ in amounts) + sum(v.vat_minor for v in vat_breakdown(amounts))


def returnable(
    order: Order, returned: dict[str, int], asked: Sequence[tuple[str, int]]
) -> list[ReturnedLine]:
    """The order's lines asked back, each at most what was ordered less what other returns (asked or
    accepted) took; 422 naming each wrong line. The product taken instead of the delivery fee is
    returned like any other."""
    lines = {code_key(line.code): line for line in order.lines}
    problems, wanted = [], []
    for position, (code, quantity) in enumerate(asked):
        field = f"lines.{position}"
        line = lines.get(code_key(code))
        if line is None:
            problems.append(FieldError(f"{field}.code", f"{code} is not on this order", "not-on-order"))
            continue
        left = line.quantity - returned.get(code_key(line.code), 0)
        if quantity > left:
            problems.append(
                FieldError(
                    f"{field}.quantity", f"at most {left} of {line.code} can still go back", "too-many"
                )
            )
            continue
        wanted.append(
            ReturnedLine(
                product_id=line.product_id,
                code=line.code,
                name=line.name,
                quantity=quantity,
                unit_price_minor=line.unit_price_minor,
                vat_rate_bp=line.vat_rate_bp,
            )
        )
    if problems:
        raise Invalid(problems)
    return wanted


class OrderNotDelivered(Conflict):
    def __init__(self, order: Order) -> None:
        super().__init__(
            "order-not-delivered",
            "Only delivered goods go back",
            f"the order is {order.status.replace('_', ' ')}",
            extensions={"order_status": order.status},
        )


# --- SQL ---

_COLUMNS = (
    "r.return_id, r.tenant_id, r.order_id, r.account_id, r.organisation_id, r.status, r.reason, r.currency,"
    " r.requested_at, r.due_at, r.decided_at, r.refusal,"
    " ARRAY(SELECT jsonb_build_object('product_id', l.product_id, 'code', l.code, 'name', l.name,"
    "  'quantity', l.quantity, 'unit_price_minor', l.unit_price_minor, 'vat_rate_bp', l.vat_rate_bp)"
    "  FROM return_lines l WHERE l.return_id = r.return_id ORDER BY l.position) AS lines,"
    " ARRAY(SELECT p.photo_id FROM return_photos p WHERE p.return_id = r.return_id"
    "  ORDER BY p.added_at, p.photo_id)"
    " AS photo_ids"
)
_ADD = """
INSERT INTO returns (return_id, tenant_id, order_id, account_id, organisation_id, status, reason, currency,
                     requested_at, due_at)
VALUES ($1, $2, $3, $4, $5, 'requested', $6, $7, $8, $9)
"""
_ADD_LINES = """
INSERT INTO return_lines
    (return_id, position, product_id, code, name, quantity, unit_price_minor, vat_rate_bp)
SELECT $1, p - 1, product_id, code, name, quantity, unit_price, rate
FROM unnest($2::uuid[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::int[])
     WITH ORDINALITY AS t(product_id, code, name, quantity, unit_price, rate, p)
"""
# What other returns of the order took back, per code: those asked and those accepted.
_RETURNED = """
SELECT l.code, sum(l.quantity) AS quantity
FROM returns r JOIN return_lines l USING (return_id)
WHERE r.order_id = $1 AND r.status <> 'refused'
GROUP BY 1
"""
_DECIDE = """
UPDATE returns SET status = $2, decided_at = $3, decided_by = $4, refusal = $5, credited_minor = $6
WHERE return_id = $1
"""


def _return(row: asyncpg.Record) -> Return:
    values = dict(row)
    lines = [ReturnedLine.model_validate_json(line) for line in values.pop("lines")]
    return Return(**values, lines=lines, amount_minor=amount_incl_vat(lines))


async def find(
    db: asyncpg.Connection | asyncpg.Pool, return_id: uuid.UUID, *, for_update: bool = False
) -> Return | None:
    lock = " FOR UPDATE OF r" if for_update else ""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM returns r WHERE r.return_id = $1{lock}", return_id)
    return _return(row) if row else None


async def listed(
    db: asyncpg.Connection | asyncpg.Pool,
    tenant_id: str,
    account_id: str | None,
    status: ReturnStatus | None,
    order_id: uuid.UUID | None,
    limit: int,
) -> list[Return]:
    """The tenant's returns (or one buyer's): those waiting first, the longest overdue first, then the
    decided ones, newest first."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM returns r WHERE r.tenant_id = $1"
        " AND ($2::text IS NULL OR r.account_id = $2) AND ($3::text IS NULL OR r.status = $3)"
        " AND ($4::uuid IS NULL OR r.order_id = $4)"
        " ORDER BY r.status <> 'requested', CASE WHEN r.status = 'requested' THEN r.due_at END,"
        " r.seq DESC LIMIT $5",
        tenant_id,
        account_id,
        status,
        order_id,
        limit,
    )
    return [_return(row) for row in rows]


# --- use cases ---


async def request_return(
    conn: asyncpg.Connection,
    order: Order,
    asked: Sequence[tuple[str, int]],
    reason: str,
    at: datetime,
) -> Return:
    """A return of delivered goods, announced; 409 when the order is not delivered, 422 naming each
    line that cannot go back (the order is locked: two returns at once cannot take a unit twice)."""
    locked = await store.find_order(conn, order.tenant_id, order.order_id, for_update=True)
    assert locked is not None
    if locked.status != "delivered":
        raise OrderNotDelivered(locked)
    returned = {code_key(row["code"]): row["quantity"] for row in await conn.fetch(_RETURNED, order.order_id)}
    lines = returnable(locked, returned, asked)
    settings = await store.checkout_settings(conn, order.tenant_id)
    created = Return(
        return_id=uuid.uuid4(),
        tenant_id=order.tenant_id,
        order_id=order.order_id,
        account_id=order.account_id,
        organisation_id=order.organisation_id,
        status="requested",
        reason=reason,
        lines=lines,
        currency=order.currency,
        amount_minor=amount_incl_vat(lines),
        requested_at=at,
        due_at=at + timedelta(days=settings.return_deadline_days),
        decided_at=None,
        refusal=None,
        photo_ids=[],
    )
    await conn.execute(
        _ADD,
        created.return_id,
        created.tenant_id,
        created.order_id,
        created.account_id,
        created.organisation_id,
        reason,
        created.currency,
        at,
        created.due_at,
    )
    await conn.execute(
        _ADD_LINES,
        created.return_id,
        [line.product_id for line in lines],
        [line.code for line in lines],
        [line.name for line in lines],
        [line.quantity for line in lines],
        [line.unit_price_minor for line in lines],
        [line.vat_rate_bp for line in lines],
    )
    await _announce(conn, created, ReturnOpened.of(created))
    return created


async def add_photo(
    conn: asyncpg.Connection, waiting: Return, content_type: str, content: bytes, at: datetime
) -> uuid.UUID:
    """A photo of a return still waiting for its decision; at most `MAX_PHOTOS`."""
    locked = await find(conn, waiting.return_id, for_update=True)
    assert locked is not None
    if locked.status != "requested":
        raise ReturnDecided(locked)
    if len(locked.photo_ids) >= MAX_PHOTOS:
        raise Conflict("too-many-photos", "Too many photos", f"a return holds at most {MAX_PHOTOS} photos")
    photo_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO return_photos (photo_id, return_id, content_type, content, added_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        photo_id,
        waiting.return_id,
        content_type,
        content,
        at,
    )
    return photo_id


async def photo(
    db: asyncpg.Connection | asyncpg.Pool, return_id: uuid.UUID, photo_id: uuid.UUID
) -> tuple[str, bytes] | None:
    row = await db.fetchrow(
        "SELECT content_type, content FROM return_photos WHERE return_id = $1 AND photo_id = $2",
        return_id,
        photo_id,
    )
    return (row["content_type"], bytes(row["content"])) if row else None


class ReturnDecided(Conflict):
    def __init__(self, decided: Return) -> None:
        super().__init__(
            "return-decided",
            "The return was decided already",
            f"the return is {decided.status}",
            extensions={"return_status": decided.status},
        )


async def decide(
    conn: asyncpg.Connection,
    seen: Return,
    accept: bool,
    by: str,
    refusal: str | None,
    at: datetime,
) -> Return:
    """Accept (the goods' price including VAT credited to the buyer's balance) or refuse (with the
    reason), once: a decided return answers 409."""
    locked = await find(conn, seen.return_id, for_update=True)
    assert locked is not None
    if locked.status != "requested":
        raise ReturnDecided(locked)
    status: ReturnStatus = "accepted" if accept else "refused"
    credited = locked.amount_minor if accept else None
    await conn.execute(_DECIDE, locked.return_id, status, at, by, refusal, credited)
    decided = locked.model_copy(update={"status": status, "decided_at": at, "refusal": refusal})
    if accept:
        if credited:
            await balance.post(
                conn,
                locked.tenant_id,
                locked.account_id,
                "return",
                credited,
                locked.currency,
                f"return:{locked.return_id}",
                at,
                order_id=locked.order_id,
            )
        order = await store.find_order(conn, locked.tenant_id, locked.order_id)
        assert order is not None
        await _announce(conn, decided, ReturnAccepted.of(decided, order, by))
    else:
        await _announce(conn, decided, ReturnRefused.of(decided, by))
    return decided


async def _announce(
    conn: asyncpg.Connection, subject: Return, event: ReturnOpened | ReturnAccepted | ReturnRefused
) -> None:
    await outbox.publish(conn, SERVICE, event, subject=str(subject.return_id), tenant_id=subject.tenant_id)
