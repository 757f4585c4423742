"""The transaction journal: everything that happened at a shop (or in the tenant), newest first —
visits and purchases with the rewards taken and the points they earned or spent, codes used, gift
cards sold and spent — searchable by a customer's card (her account) or by a gift card's number."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.loyalty.store import Db

Kind = Literal["visit", "purchase", "voucher", "gift_card_sale", "gift_card_redeem"]


class Line(BaseModel):
    model_config = ConfigDict(frozen=True)

    line_id: uuid.UUID = Field(description="The visit, voucher or gift card move it shows")
    kind: Kind = Field(
        description="visit, purchase, voucher (a code used), gift_card_sale or gift_card_redeem"
    )
    at: datetime = Field(description="When (UTC)")
    account_id: str | None = Field(description="The member (a gift card's: its owner, if any)")
    shop_id: str | None = Field(description="Where; null: by the manager, or online")
    amount_minor: int = Field(description="A purchase's amount; a gift card move's, signed; else 0")
    currency: str | None = Field(description="ISO 4217; null for a visit or a code")
    points: int = Field(description="Points it earned less the points its rewards cost")
    rewards: int = Field(description="Rewards taken with it (a code: 1)")
    reference: str | None = Field(description="A code's or a gift card number's last four characters")


# $4, a gift card's number, narrows the journal to that card's moves.
_JOURNAL = """
SELECT * FROM (
    SELECT v.visit_id AS line_id, v.kind, v.recorded_at AS at, v.account_id, v.shop_id, v.amount_minor,
        v.currency, coalesce(e.points, 0) + coalesce(r.points, 0) AS points,
        (SELECT count(*) FROM redemptions WHERE visit_id = v.visit_id)::int AS rewards, NULL AS reference
    FROM visits v
    LEFT JOIN ledger e ON e.tenant_id = v.tenant_id AND e.kind = 'earn' AND e.cause_type = 'visit'
        AND e.cause_id = v.visit_id::text
    LEFT JOIN ledger r ON r.tenant_id = v.tenant_id AND r.kind = 'redeem' AND r.cause_type = 'reward'
        AND r.cause_id = v.visit_id::text
    WHERE v.tenant_id = $1 AND ($2::text IS NULL OR v.account_id = $2)
        AND ($3::text IS NULL OR v.shop_id = $3) AND $4::text IS NULL
    UNION ALL
    SELECT u.voucher_id, 'voucher', u.redeemed_at, u.account_id, u.redeemed_shop, 0, NULL, 0, 1, u.code_hint
    FROM vouchers u
    WHERE u.tenant_id = $1 AND u.redeemed_at IS NOT NULL AND ($2::text IS NULL OR u.account_id = $2)
        AND ($3::text IS NULL OR u.redeemed_shop = $3) AND $4::text IS NULL
    UNION ALL
    SELECT m.move_id, 'gift_card_' || m.kind, m.at, g.owner_id, m.shop_id, m.amount_minor, g.currency, 0, 0,
        right(g.number, 4)
    FROM gift_card_moves m JOIN gift_cards g ON g.card_id = m.card_id
    WHERE m.tenant_id = $1 AND ($2::text IS NULL OR g.owner_id = $2) AND ($3::text IS NULL OR m.shop_id = $3)
        AND ($4::text IS NULL OR g.number = $4)
) AS journal
ORDER BY at DESC, line_id
LIMIT $5
"""


async def lines(
    db: Db,
    tenant_id: str,
    *,
    account_id: str | None = None,
    shop_id: str | None = None,
    gift_card: str | None = None,
    limit: int = 50,
) -> list[Line]:
    """The journal, newest first: a shop's (`shop_id`) or the tenant's, a member's or a gift card's."""
    rows = await db.fetch(_JOURNAL, tenant_id, account_id, shop_id, gift_card, limit)
    return [Line(**dict(row)) for row in rows]
