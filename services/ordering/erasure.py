"""What ordering forgets of a deleted account: orders stay for accounting, without the person's data.

Her quotes, cart, templates, her own address book and the addresses she asked to keep are deleted;
her orders lose their delivery instructions and, when the address was her own (she belongs to no
organisation), the address itself; her returns lose their photos and the reason she wrote. The
backbone tables (outbox, idempotency answers, dead letters) lose every row holding one of those
values. Her account balance and its entries stay: money records, holding no personal data (the
account is known by its pseudonymous id alone).
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from libs.common import erasure

_ADDRESS_VALUES = ("recipient", "line1", "line2", "phone")

# Each statement returns the JSON documents it forgets, for the values the backbone must lose too.
_FORGET = [
    "DELETE FROM quotes WHERE tenant_id = $1 AND account_id = $2 RETURNING quote -> 'checkout' -> 'choices'",
    """DELETE FROM addresses WHERE tenant_id = $1 AND owner_kind = 'account' AND owner_id = $2
       RETURNING jsonb_build_object('address', address)""",
    """DELETE FROM address_requests WHERE tenant_id = $1 AND account_id = $2
       RETURNING jsonb_build_object('address', address)""",
    """UPDATE orders o SET checkout = CASE
           WHEN o.organisation_id IS NULL THEN jsonb_set(jsonb_set(o.checkout, '{choices,address}', 'null'),
                                                         '{choices,instructions}', 'null')
           ELSE jsonb_set(o.checkout, '{choices,instructions}', 'null') END
       FROM orders old
       WHERE old.order_id = o.order_id AND o.tenant_id = $1 AND o.account_id = $2 AND o.checkout <> '{}'
       RETURNING old.checkout -> 'choices'""",
    """UPDATE returns r SET reason = '' FROM returns old
       WHERE old.return_id = r.return_id AND r.tenant_id = $1 AND r.account_id = $2 AND r.reason <> ''
       RETURNING jsonb_build_object('instructions', old.reason)""",
]
_DELETE_REST = [
    "INSERT INTO erased_accounts (tenant_id, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    "DELETE FROM cart_lines WHERE tenant_id = $1 AND account_id = $2",
    "DELETE FROM cart_templates WHERE tenant_id = $1 AND account_id = $2",
    "DELETE FROM memberships WHERE tenant_id = $1 AND account_id = $2",
    """DELETE FROM return_photos p USING returns r
       WHERE p.return_id = r.return_id AND r.tenant_id = $1 AND r.account_id = $2""",
    # What her orders asked loyalty to reserve: a code and a gift card's number and PIN (secrets).
    """DELETE FROM outbox WHERE topic = 'internal.ordering.checkout.v1'
       AND key IN (SELECT order_id::text FROM orders WHERE tenant_id = $1 AND account_id = $2)""",
]


def _details(choices: dict[str, Any] | None) -> list[str]:
    if not choices:
        return []
    address = choices.get("address") or {}
    values = [address.get(name) for name in _ADDRESS_VALUES]
    return [str(v) for v in [*values, choices.get("instructions")] if v]


async def erase_account(conn: asyncpg.Connection, tenant_id: str, account_id: str) -> None:
    """Forget the account's personal data (in the consumer's transaction); running it again finds
    nothing more."""
    details: list[str] = []
    for statement in _FORGET:
        for row in await conn.fetch(statement, tenant_id, account_id):
            value = row[0]
            details += _details(json.loads(value) if isinstance(value, str) else value)
    for statement in _DELETE_REST:
        await conn.execute(statement, tenant_id, account_id)
    await erasure.scrub(conn, account_id, [], details)
