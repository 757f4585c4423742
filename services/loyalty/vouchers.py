"""Vouchers: a reward a member takes online is paid with her points and issues a single-use code,
emailed to her, that a shop redeems once before it expires. Codes are unguessable (80 random bits,
no sequence); only their digest is stored."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

import asyncpg
from pydantic import BaseModel, ConfigDict

from libs.common import outbox
from libs.common.errors import Conflict, Gone, NotFound
from services.loyalty import store
from services.loyalty.directory import Member
from services.loyalty.events import SERVICE, PointsSpent, VoucherCodeRequested, VoucherIssued, VoucherRedeemed
from services.loyalty.rewards import Program, Standing, refuse_unless_available
from services.loyalty.store import Db

VALIDITY = timedelta(days=90)
CODE_BYTES = 10  # 80 bits: 16 characters of base32
VOUCHER_CAUSE = "voucher"


class Voucher(BaseModel):
    model_config = ConfigDict(frozen=True)

    voucher_id: uuid.UUID
    account_id: str
    program_id: uuid.UUID
    code_hint: str
    points: int
    issued_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None = None
    redeemed_shop: str | None = None


def new_code() -> str:
    """A fresh code: 16 characters of base32 in groups of four, e.g. `K7QM-2XRT-P4ZD-9WLB`."""
    text = base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode()
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def normalise(code: str) -> str:
    """A code as typed: any case, with or without its dashes and spaces."""
    return "".join(code.split()).replace("-", "").upper()


def digest(code: str) -> bytes:
    return hashlib.sha256(normalise(code).encode()).digest()


_COLUMNS = (
    "voucher_id, account_id, program_id, code_hint, points, issued_at, expires_at, redeemed_at, redeemed_shop"
)
_ISSUE = f"""
INSERT INTO vouchers (tenant_id, voucher_id, account_id, program_id, code_digest, code_hint, points,
                      issued_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING {_COLUMNS}
"""
# One statement decides: of two redemptions racing on one code, exactly one finds it unused.
_REDEEM = f"""
UPDATE vouchers SET redeemed_at = $3, redeemed_by = $4, redeemed_shop = $5
WHERE tenant_id = $1 AND code_digest = $2 AND redeemed_at IS NULL AND expires_at > $3
RETURNING {_COLUMNS}
"""
_BY_DIGEST = f"SELECT {_COLUMNS} FROM vouchers WHERE tenant_id = $1 AND code_digest = $2"
_OF_MEMBER = f"""
SELECT {_COLUMNS} FROM vouchers WHERE tenant_id = $1 AND account_id = $2 ORDER BY issued_at DESC LIMIT $3
"""


async def issue(
    conn: asyncpg.Connection,
    tenant_id: str,
    member: Member,
    program: Program,
    standing: Standing,
    at: datetime,
) -> tuple[Voucher, str]:
    """Spend the program's points (the account locked by the caller) and issue its code; the code
    is answered once, emailed through notify, and never stored."""
    refuse_unless_available(program, standing)
    code = new_code()
    row = await conn.fetchrow(
        _ISSUE,
        tenant_id,
        uuid.uuid4(),
        member.account_id,
        program.program_id,
        digest(code),
        normalise(code)[-4:],
        program.spec.points_cost,
        at,
        at + VALIDITY,
    )
    voucher = Voucher(**dict(row))
    if program.spec.points_cost:
        entry = await store.post_entry(
            conn,
            tenant_id,
            member.account_id,
            "redeem",
            -program.spec.points_cost,
            VOUCHER_CAUSE,
            str(voucher.voucher_id),
        )
        assert entry is not None, "a new voucher is paid once"
        spent = PointsSpent.of(entry, [program.program_id])
        await outbox.publish(conn, SERVICE, spent, subject=member.account_id, tenant_id=tenant_id)
    for event in (
        VoucherIssued.of(voucher, program),
        VoucherCodeRequested.of(voucher, program, code),
    ):
        await outbox.publish(conn, SERVICE, event, subject=member.account_id, tenant_id=tenant_id)
    return voucher, code


async def redeem(
    conn: asyncpg.Connection, tenant_id: str, code: str, by: str, shop_id: str | None, at: datetime
) -> Voucher:
    """Use a code once: 404 unknown here, 409 used already, 410 expired."""
    row = await conn.fetchrow(_REDEEM, tenant_id, digest(code), at, by, shop_id)
    if row is None:
        found = await conn.fetchrow(_BY_DIGEST, tenant_id, digest(code))
        if found is None:
            raise NotFound("unknown-voucher", "Unknown code", "no voucher of this shop has this code")
        if found["redeemed_at"] is not None:
            raise Conflict("voucher-used", "Code used", "this code was used already")
        raise Gone("voucher-expired", "Code expired", "this code has expired")
    voucher = Voucher(**dict(row))
    redeemed = VoucherRedeemed.of(voucher)
    await outbox.publish(conn, SERVICE, redeemed, subject=voucher.account_id, tenant_id=tenant_id)
    return voucher


async def of_member(db: Db, tenant_id: str, account_id: str, limit: int = 50) -> list[Voucher]:
    return [Voucher(**dict(row)) for row in await db.fetch(_OF_MEMBER, tenant_id, account_id, limit)]
