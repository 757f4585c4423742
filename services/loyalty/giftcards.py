"""Gift cards: sold at a shop (a virtual one numbered then, or a physical one of a batch activated
then) or online (a virtual one, see `purchases`), redeemed in part or in full with its PIN, until it
expires. The number alone never spends: the PIN is checked first, and wrong PINs lock the card after
a few tries."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta

import asyncpg
from pydantic import BaseModel, ConfigDict

from libs.common import outbox
from libs.common.errors import Conflict, Gone, Invalid, NotFound
from services.loyalty.events import SERVICE, GiftCardDeliveryRequested, GiftCardRedeemed, GiftCardSold
from services.loyalty.store import Db

VALIDITY = timedelta(days=365)
MAX_WRONG_PINS = 5
NUMBER_DIGITS = 16
PIN_DIGITS = 6
MAX_BATCH = 1000


class GiftCard(BaseModel):
    model_config = ConfigDict(frozen=True)

    card_id: uuid.UUID
    number: str
    kind: str
    currency: str
    balance_minor: int
    owner_id: str | None
    sold_at: datetime | None
    sold_shop: str | None
    expires_at: datetime | None
    wrong_pins: int
    locked_at: datetime | None


class Move(BaseModel):
    model_config = ConfigDict(frozen=True)

    move_id: uuid.UUID
    card_id: uuid.UUID
    kind: str
    amount_minor: int
    balance_minor: int
    shop_id: str | None
    at: datetime


def new_number() -> str:
    """16 random digits, the first not 0: nothing to guess from the cards sold before."""
    return str(secrets.randbelow(9) + 1) + "".join(
        str(secrets.randbelow(10)) for _ in range(NUMBER_DIGITS - 1)
    )


def new_pin() -> str:
    return "".join(str(secrets.randbelow(10)) for _ in range(PIN_DIGITS))


def pin_digest(card_id: uuid.UUID, pin: str) -> bytes:
    """What is stored of a PIN: its HMAC keyed by the card's id (two cards' equal PINs differ)."""
    return hmac.new(card_id.bytes, pin.strip().encode(), hashlib.sha256).digest()


def normalise(number: str) -> str:
    return "".join(number.split()).replace("-", "")


_COLUMNS = (
    "card_id, number, kind, currency, balance_minor, owner_id, sold_at, sold_shop, expires_at, wrong_pins,"
    " locked_at"
)
_ADD = f"""
INSERT INTO gift_cards (card_id, tenant_id, number, kind, pin_digest, created_at)
VALUES ($1, $2, $3, 'virtual', $4, $5)
ON CONFLICT (tenant_id, number) DO NOTHING
RETURNING {_COLUMNS}
"""
# A batch in one statement: a number taken already is left out (the caller sees which).
_ADD_MANY = """
INSERT INTO gift_cards (card_id, tenant_id, number, kind, pin_digest, batch_id, created_at)
SELECT card_id, $2, number, 'physical', pin_digest, $5, $6
FROM unnest($1::uuid[], $3::text[], $4::bytea[]) AS given (card_id, number, pin_digest)
ON CONFLICT (tenant_id, number) DO NOTHING
RETURNING number
"""
_LOCK = f"SELECT {_COLUMNS}, pin_digest FROM gift_cards WHERE tenant_id = $1 AND number = $2 FOR UPDATE"
_SELL = f"""
UPDATE gift_cards SET balance_minor = $2, currency = $3, owner_id = $4, sold_at = $5, sold_shop = $6,
    expires_at = $7
WHERE card_id = $1 RETURNING {_COLUMNS}
"""
_SPEND = f"UPDATE gift_cards SET balance_minor = balance_minor + $2 WHERE card_id = $1 RETURNING {_COLUMNS}"
_WRONG_PIN = """
UPDATE gift_cards SET wrong_pins = wrong_pins + 1,
    locked_at = CASE WHEN wrong_pins + 1 >= $2 THEN $3 ELSE locked_at END
WHERE card_id = $1
"""
_GOOD_PIN = "UPDATE gift_cards SET wrong_pins = 0 WHERE card_id = $1"
_MOVE = """
INSERT INTO gift_card_moves (move_id, tenant_id, card_id, kind, amount_minor, balance_minor, shop_id,
                             by_account, at, order_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING move_id, card_id, kind, amount_minor, balance_minor, shop_id, at
"""


async def _new_virtual(conn: asyncpg.Connection, tenant_id: str, at: datetime) -> tuple[GiftCard, str]:
    """A new virtual card (unsold yet), with its PIN; a number taken already is drawn again."""
    for _ in range(5):
        card_id, pin = uuid.uuid4(), new_pin()
        row = await conn.fetchrow(_ADD, card_id, tenant_id, new_number(), pin_digest(card_id, pin), at)
        if row is not None:
            return GiftCard(**dict(row)), pin
    raise RuntimeError("no free gift card number after 5 tries")


async def add_batch(
    conn: asyncpg.Connection, tenant_id: str, label: str, cards: list[tuple[str, str]] | int, at: datetime
) -> tuple[uuid.UUID, list[tuple[str, str]]]:
    """A batch of physical cards, unsold: imported (number, PIN) pairs, or that many generated.
    Answers the numbers and PINs (to print) once; only the PINs' digests are kept."""
    batch_id = uuid.uuid4()
    count = cards if isinstance(cards, int) else len(cards)
    await conn.execute(
        "INSERT INTO gift_card_batches (batch_id, tenant_id, label, cards, created_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        batch_id,
        tenant_id,
        label,
        count,
        at,
    )
    wanted = [(normalise(n), p) for n, p in cards] if isinstance(cards, list) else []
    if len({n for n, _ in wanted}) != len(wanted):
        raise Invalid.field("cards", "a number is given twice", "duplicate")
    made: list[tuple[str, str]] = []
    for _ in range(5):  # a generated number already taken is drawn again
        if not isinstance(cards, list):
            wanted = [(new_number(), new_pin()) for _ in range(count - len(made))]
        ids = [uuid.uuid4() for _ in wanted]
        inserted = await conn.fetch(
            _ADD_MANY,
            ids,
            tenant_id,
            [n for n, _ in wanted],
            [pin_digest(card_id, p) for card_id, (_, p) in zip(ids, wanted, strict=True)],
            batch_id,
            at,
        )
        kept = {row["number"] for row in inserted}
        made += [(n, p) for n, p in wanted if n in kept]
        if len(made) == count:
            return batch_id, made
        if isinstance(cards, list):
            taken = sorted(n for n, _ in wanted if n not in kept)
            raise Invalid.field("cards", f"gift cards with these numbers exist: {taken[:10]}", "taken")
    raise RuntimeError("no free gift card numbers after 5 draws")


async def _locked_card(conn: asyncpg.Connection, tenant_id: str, number: str) -> tuple[GiftCard, bytes]:
    row = await conn.fetchrow(_LOCK, tenant_id, normalise(number))
    if row is None:
        raise NotFound("unknown-gift-card", "Unknown gift card", "no gift card of this shop has this number")
    fields = dict(row)
    return GiftCard(**{k: v for k, v in fields.items() if k != "pin_digest"}), fields["pin_digest"]


async def _move(
    conn: asyncpg.Connection,
    tenant_id: str,
    card: GiftCard,
    kind: str,
    amount: int,
    balance: int,
    shop_id: str | None,
    by: str,
    at: datetime,
    order_id: uuid.UUID | None = None,
) -> Move:
    row = await conn.fetchrow(
        _MOVE, uuid.uuid4(), tenant_id, card.card_id, kind, amount, balance, shop_id, by, at, order_id
    )
    return Move(**dict(row))


async def sell(
    conn: asyncpg.Connection,
    tenant_id: str,
    amount_minor: int,
    currency: str,
    shop_id: str | None,
    by: str,
    at: datetime,
    *,
    number: str | None = None,
    owner_id: str | None = None,
    online: bool = False,
) -> tuple[GiftCard, str | None]:
    """Sell a card: a physical one of a batch by its number (activated now), or a new virtual one
    (its number and PIN answered once). Announced; a card sold for a member is emailed to her (with
    a virtual card's PIN)."""
    pin = None
    if number is None:
        card, pin = await _new_virtual(conn, tenant_id, at)
    else:
        card, _ = await _locked_card(conn, tenant_id, number)
        if card.sold_at is not None:
            raise Conflict(
                "gift-card-sold", "Gift card sold already", "this card was sold and activated before"
            )
    row = await conn.fetchrow(
        _SELL, card.card_id, amount_minor, currency, owner_id, at, shop_id, at + VALIDITY
    )
    sold = GiftCard(**dict(row))
    await _move(conn, tenant_id, sold, "sale", amount_minor, amount_minor, shop_id, by, at)
    await outbox.publish(
        conn, SERVICE, GiftCardSold.of(sold, online=online), subject=str(sold.card_id), tenant_id=tenant_id
    )
    if owner_id is not None:
        delivery = GiftCardDeliveryRequested.of(sold, pin)
        await outbox.publish(conn, SERVICE, delivery, subject=owner_id, tenant_id=tenant_id)
    return sold, pin


async def check_pin(
    conn: asyncpg.Connection, tenant_id: str, number: str, pin: str, at: datetime
) -> GiftCard:
    """The card, locked for the transaction, once its PIN is right: a wrong one counts (and is
    committed: the caller's transaction must not roll it back — see `redeem`), and locks the card at
    the limit."""
    card, digest = await _locked_card(conn, tenant_id, number)
    if card.locked_at is not None:
        raise Conflict(
            "gift-card-locked", "Gift card locked", "too many wrong PINs: the shop's manager can help"
        )
    if not hmac.compare_digest(digest, pin_digest(card.card_id, pin)):
        await conn.execute(_WRONG_PIN, card.card_id, MAX_WRONG_PINS, at)
        raise WrongPin(MAX_WRONG_PINS - card.wrong_pins - 1)
    if card.wrong_pins:
        await conn.execute(_GOOD_PIN, card.card_id)
    return card


async def count_wrong_pin(conn: asyncpg.Connection, tenant_id: str, number: str, at: datetime) -> None:
    """Count a wrong PIN again after the transaction that met it was undone (it must still count)."""
    card, _ = await _locked_card(conn, tenant_id, number)
    await conn.execute(_WRONG_PIN, card.card_id, MAX_WRONG_PINS, at)


class WrongPin(Exception):
    """The PIN did not match; `left` tries remain before the card locks."""

    def __init__(self, left: int) -> None:
        super().__init__(f"wrong PIN, {left} tries left")
        self.left = max(left, 0)


async def redeem(
    conn: asyncpg.Connection,
    tenant_id: str,
    card: GiftCard,
    amount_minor: int,
    shop_id: str | None,
    by: str,
    at: datetime,
    *,
    order_id: uuid.UUID | None = None,
) -> tuple[GiftCard, Move]:
    """Spend part or all of a card checked by `check_pin` (locked): never more than it holds (at a
    shop, or for an order paid online)."""
    if card.sold_at is None:
        raise Conflict(
            "gift-card-not-sold", "Gift card not sold", "this card was never sold: it holds nothing"
        )
    assert card.expires_at is not None
    if at >= card.expires_at:
        raise Gone("gift-card-expired", "Gift card expired", "this gift card has expired")
    if amount_minor > card.balance_minor:
        raise Conflict(
            "gift-card-insufficient",
            "Not enough on the card",
            f"the card holds {card.balance_minor}, not {amount_minor}",
            extensions={"balance_minor": card.balance_minor},
        )
    row = await conn.fetchrow(_SPEND, card.card_id, -amount_minor)
    spent = GiftCard(**dict(row))
    move = await _move(
        conn, tenant_id, spent, "redeem", -amount_minor, spent.balance_minor, shop_id, by, at, order_id
    )
    event = GiftCardRedeemed.of(spent, move)
    await outbox.publish(conn, SERVICE, event, subject=str(spent.card_id), tenant_id=tenant_id)
    return spent, move


async def refund(
    conn: asyncpg.Connection,
    tenant_id: str,
    card_id: uuid.UUID,
    amount_minor: int,
    by: str,
    at: datetime,
    order_id: uuid.UUID,
) -> GiftCard:
    """Give back to a card what an order took off it (its reservation released)."""
    row = await conn.fetchrow(_SPEND, card_id, amount_minor)
    card = GiftCard(**dict(row))
    await _move(conn, tenant_id, card, "refund", amount_minor, card.balance_minor, None, by, at, order_id)
    return card


async def moves(db: Db, card_id: uuid.UUID) -> list[Move]:
    rows = await db.fetch(
        "SELECT move_id, card_id, kind, amount_minor, balance_minor, shop_id, at FROM gift_card_moves"
        " WHERE card_id = $1 ORDER BY at DESC, move_id",
        card_id,
    )
    return [Move(**dict(row)) for row in rows]


async def of_owner(db: Db, tenant_id: str, owner_id: str) -> list[GiftCard]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM gift_cards WHERE tenant_id = $1 AND owner_id = $2 ORDER BY sold_at DESC",
        tenant_id,
        owner_id,
    )
    return [GiftCard(**dict(row)) for row in rows]
