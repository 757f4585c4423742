"""Events loyalty publishes (docs/contracts.md): their JSON Schemas are generated from these models."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal, Self

from pydantic import BaseModel, Field

from libs.common.events import IntegrationEvent, examples
from libs.common.limits import MAX_BALANCE, MAX_ENTRY_POINTS, MAX_ORDER_TOTAL_MINOR
from services.loyalty.domain import PostedEntry

if TYPE_CHECKING:  # use cases build their events from their records, never the reverse
    from services.loyalty.counter import Visit
    from services.loyalty.giftcards import GiftCard
    from services.loyalty.giftcards import Move as GiftCardMove
    from services.loyalty.rewards import Program
    from services.loyalty.vouchers import Voucher

SERVICE = "loyalty"

REQUESTS_TOPIC = "internal.notify.requests.v1"
"""Where loyalty asks notify to email a member a secret (a code, a gift card's PIN): internal."""
_ACCOUNT = "8d1c6a5e-3f2b-4c1d-9e7a-2b5f0c4d6e81"  # identity's account id


def _entry(entry: PostedEntry) -> dict[str, object]:
    """What every points event says of the ledger entry it announces."""
    fields = ("account_id", "entry_id", "points", "balance", "cause_type", "cause_id")
    return {name: getattr(entry, name) for name in fields}


class PointsAwarded(IntegrationEvent):
    """A member earned points: the ledger entry is written and the balance includes it."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "entry_id": "2d1c0b9a-8f7e-4d6c-b5a4-f3e2d1c0b9a8",
            "points": 32,
            "balance": 32,
            "cause_type": "order",
            "cause_id": "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910",
            "pot": "purchase",
            "awarded_at": "2026-03-02T10:20:01Z",
        }
    )

    event_type = "loyalty.points.awarded"
    topic = "loyalty.points.v1"

    account_id: str = Field(
        description="The member who earned the points (identity's account id); also the subject and Kafka key"
    )
    entry_id: uuid.UUID = Field(description="The ledger entry that credited the points")
    points: int = Field(gt=0, le=MAX_ENTRY_POINTS, description="How many points were credited")
    balance: int = Field(
        ge=-MAX_BALANCE, le=MAX_BALANCE, description="The member's balance right after this entry"
    )
    cause_type: str = Field(
        description='What earned the points: "order", "visit" (recorded at a shop) or "welcome" (a new card)'
    )
    cause_id: str = Field(description="Which one: the order id, the visit id, the member's account id")
    pot: Literal["purchase", "sponsor"] = Field(
        "purchase",
        description="Which of her balances: purchase points, or sponsor points (her team's orders)",
    )
    awarded_at: datetime = Field(description="When the points were credited (UTC)")

    @classmethod
    def of(cls, entry: PostedEntry) -> Self:
        return cls(**_entry(entry), awarded_at=entry.created_at, pot=entry.pot)


class PointsForfeited(IntegrationEvent):
    """A member's points account was closed because her identity account was deleted: one last
    ledger entry brought the balance to 0, and the account earns nothing any more.

    Not sent when the balance was already 0: no points moved.
    """

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "entry_id": "3e2d1c0b-9a8f-4e7d-a6c5-b4a3f2e1d0c9",
            "points": -32,
            "balance": 0,
            "cause_type": "account-deletion",
            "cause_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "forfeited_at": "2026-09-01T08:00:02Z",
        }
    )

    event_type = "loyalty.points.forfeited"
    topic = "loyalty.points.v1"

    account_id: str = Field(
        description="The member whose points were forfeited (identity's account id); also the subject and"
        " Kafka key"
    )
    entry_id: uuid.UUID = Field(description="The ledger entry that brought the balance to 0")
    points: int = Field(
        ge=-MAX_BALANCE,
        le=MAX_BALANCE,
        description="The entry's points, signed as in the ledger: minus the balance the account held"
        " (negative, unless a debt was written off)",
    )
    balance: int = Field(description="The member's balance right after this entry: always 0")
    cause_type: str = Field(description='What closed the account: "account-deletion"')
    cause_id: str = Field(description="Which one: the id of the identity.account.deleted event")
    forfeited_at: datetime = Field(description="When the points were forfeited (UTC)")

    @classmethod
    def of(cls, entry: PostedEntry) -> Self:
        return cls(**_entry(entry), forfeited_at=entry.created_at)


class PointsReversed(IntegrationEvent):
    """Points an order earned were taken back: all of them when the order was cancelled, the share of
    the goods returned when a return was accepted. A reversal never takes the balance below zero:
    what it could not take (spent meanwhile) is its shortfall."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "entry_id": "4f3e2d1c-0b9a-4f8e-b7d6-c5b4a3f2e1d0",
            "points": -32,
            "shortfall": 0,
            "balance": 18,
            "cause_type": "order-cancelled",
            "cause_id": "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910",
            "pot": "purchase",
            "reversed_at": "2026-03-02T11:00:01Z",
        }
    )

    event_type = "loyalty.points.reversed"
    topic = "loyalty.points.v1"

    account_id: str = Field(
        description="The member whose points were taken back (identity's account id); also the subject"
        " and Kafka key"
    )
    entry_id: uuid.UUID = Field(description="The ledger entry that took them back")
    points: int = Field(
        ge=-MAX_ENTRY_POINTS, le=0, description="The entry's points, signed as in the ledger (0 or less)"
    )
    shortfall: int = Field(
        ge=0, le=MAX_ENTRY_POINTS, description="What could not be taken back: the balance stays at 0 or more"
    )
    balance: int = Field(ge=0, le=MAX_BALANCE, description="The member's balance right after this entry")
    cause_type: str = Field(description='Why: "order-cancelled" or "order-returned"')
    cause_id: str = Field(description="Which one: the order id, or the return id")
    pot: Literal["purchase", "sponsor"] = Field(
        "purchase",
        description="Which of her balances: purchase points, or sponsor points (her team's orders)",
    )
    reversed_at: datetime = Field(description="When (UTC)")

    @classmethod
    def of(cls, entry: PostedEntry) -> Self:
        return cls(**_entry(entry), shortfall=entry.shortfall, reversed_at=entry.created_at, pot=entry.pot)


class VisitRecorded(IntegrationEvent):
    """A shop recorded a visit or a purchase of a member at the counter, for the dashboard and for
    campaign segments (who bought what, where, when). Its points, if any, are announced apart
    (loyalty.points.awarded, cause "visit")."""

    model_config = examples(
        {
            "visit_id": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
            "account_id": _ACCOUNT,
            "shop_id": "0f6b2c1e-7a3d-4e5f-8b9c-1d2e3f4a5b6c",
            "kind": "purchase",
            "amount_minor": 4590,
            "currency": "EUR",
            "products": ["9b8a7f6e-5d4c-4b3a-8f9e-0d1c2b3a4f5e"],
            "categories": ["2c1b0a9f-8e7d-4c6b-a5f4-e3d2c1b0a9f8"],
            "number": 7,
            "points": 41,
            "recorded_at": "2026-03-14T16:02:11Z",
            "rewards": ["7c6b5a4d-3e2f-4b1a-8d9c-0e1f2a3b4c5d"],
            "discount_minor": 459,
            "spent": 40,
        }
    )

    event_type = "loyalty.visit.recorded"
    topic = "loyalty.visit.v1"

    visit_id: uuid.UUID = Field(description="The visit's id")
    account_id: str = Field(description="The member (identity's account id); also the subject and Kafka key")
    shop_id: str | None = Field(
        description="The shop (identity's organisation of kind shop); null: the manager"
    )
    kind: Literal["visit", "purchase"] = Field(description="visit: a card scan; purchase: with an amount")
    amount_minor: int = Field(
        ge=0, le=MAX_ORDER_TOTAL_MINOR, description="The purchase's amount (0 for a visit)"
    )
    currency: str = Field(description="ISO 4217 currency of the amount")
    products: list[str] = Field(description="Catalog products bought, if staff named them")
    categories: list[str] = Field(
        description="Catalog categories of the purchase: those staff named and those of its products"
    )
    number: int = Field(ge=1, description="Her how-many-th visit in the tenant, this one included")
    points: int = Field(ge=0, le=MAX_ENTRY_POINTS, description="Points the earning rules gave it")
    recorded_at: datetime = Field(description="When it was recorded (UTC)")
    rewards: list[uuid.UUID] = Field([], description="Reward programs taken with the purchase")
    discount_minor: int = Field(
        0, ge=0, le=MAX_ORDER_TOTAL_MINOR, description="What those rewards took off the amount"
    )
    spent: int = Field(0, ge=0, le=MAX_ENTRY_POINTS, description="Points those rewards cost")

    @classmethod
    def of(cls, visit: Visit) -> Self:
        return cls.model_validate(
            visit.model_dump(include=set(cls.model_fields))
            | {
                "products": list(visit.products),
                "categories": list(visit.categories),
                "rewards": list(visit.rewards),
            }
        )


class PointsSpent(IntegrationEvent):
    """A member spent points on rewards taken at a shop's counter with a purchase."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "entry_id": "6b5a4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d",
            "points": -40,
            "balance": 5,
            "cause_type": "reward",
            "cause_id": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
            "rewards": ["7c6b5a4d-3e2f-4b1a-8d9c-0e1f2a3b4c5d"],
            "spent_at": "2026-03-14T16:02:11Z",
        }
    )

    event_type = "loyalty.points.spent"
    topic = "loyalty.points.v1"

    account_id: str = Field(
        description="The member who spent them (identity's account id); also the subject and Kafka key"
    )
    entry_id: uuid.UUID = Field(description="The ledger entry that debited them")
    points: int = Field(ge=-MAX_ENTRY_POINTS, lt=0, description="The entry's points, signed as in the ledger")
    balance: int = Field(ge=0, le=MAX_BALANCE, description="The member's balance right after this entry")
    cause_type: str = Field(description='What they were spent on: "reward" (taken at the counter)')
    cause_id: str = Field(description="Which one: the visit the rewards were taken with")
    rewards: list[uuid.UUID] = Field(description="The reward programs taken")
    spent_at: datetime = Field(description="When (UTC)")

    @classmethod
    def of(cls, entry: PostedEntry, rewards: list[uuid.UUID]) -> Self:
        return cls(**_entry(entry), rewards=rewards, spent_at=entry.created_at)


VOUCHERS_TOPIC = "loyalty.voucher.v1"
_VOUCHER = "8e7d6c5b-4a39-4281-9f0e-1d2c3b4a5f6e"
_PROGRAM = "7c6b5a4d-3e2f-4b1a-8d9c-0e1f2a3b4c5d"


class VoucherIssued(IntegrationEvent):
    """A member took a reward online: its points are spent and a single-use code was issued to her
    (the code itself travels only to notify, on its internal topic)."""

    model_config = examples(
        {
            "voucher_id": _VOUCHER,
            "account_id": _ACCOUNT,
            "program_id": _PROGRAM,
            "title": "10 % off",
            "points": 40,
            "issued_at": "2026-03-20T18:00:00Z",
            "expires_at": "2026-06-18T18:00:00Z",
        }
    )

    event_type = "loyalty.voucher.issued"
    topic = VOUCHERS_TOPIC

    voucher_id: uuid.UUID = Field(description="The voucher")
    account_id: str = Field(description="Whose it is; also the subject and Kafka key")
    program_id: uuid.UUID = Field(description="The reward program it comes from")
    title: str = Field(description="The program's title")
    points: int = Field(ge=0, le=MAX_ENTRY_POINTS, description="Points it cost")
    issued_at: datetime = Field(description="When (UTC)")
    expires_at: datetime = Field(description="When its code stops working (UTC)")

    @classmethod
    def of(cls, voucher: Voucher, program: Program) -> Self:
        return cls.model_validate(
            voucher.model_dump(include=set(cls.model_fields)) | {"title": program.spec.title}
        )


class VoucherRedeemed(IntegrationEvent):
    """A shop used a voucher's code: it is spent for good."""

    model_config = examples(
        {
            "voucher_id": _VOUCHER,
            "account_id": _ACCOUNT,
            "shop_id": "0f6b2c1e-7a3d-4e5f-8b9c-1d2e3f4a5b6c",
            "redeemed_at": "2026-03-22T11:30:00Z",
        }
    )

    event_type = "loyalty.voucher.redeemed"
    topic = VOUCHERS_TOPIC

    voucher_id: uuid.UUID = Field(description="The voucher")
    account_id: str = Field(description="Whose it was; also the subject and Kafka key")
    shop_id: str | None = Field(description="The shop that took it; null: the manager")
    redeemed_at: datetime = Field(description="When (UTC)")

    @classmethod
    def of(cls, voucher: Voucher) -> Self:
        assert voucher.redeemed_at is not None
        return cls(
            voucher_id=voucher.voucher_id,
            account_id=voucher.account_id,
            shop_id=voucher.redeemed_shop,
            redeemed_at=voucher.redeemed_at,
        )


class VoucherCodeRequested(IntegrationEvent):
    """Email the member the code of the reward she took. Internal: the code is a bearer secret."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "voucher_id": _VOUCHER,
            "title": "10 % off",
            "code": "K7QM-2XRT-P4ZD-9WLB",
            "expires_at": "2026-06-18T18:00:00Z",
        }
    )

    event_type = "loyalty.voucher.code_requested"
    topic = REQUESTS_TOPIC
    internal = True

    account_id: str = Field(description="Whom to write to (notify knows her contact); the subject and key")
    voucher_id: uuid.UUID = Field(description="The voucher")
    title: str = Field(description="What she won")
    code: str = Field(description="The single-use code")
    expires_at: datetime = Field(description="When it stops working (UTC)")

    @classmethod
    def of(cls, voucher: Voucher, program: Program, code: str) -> Self:
        return cls(
            account_id=voucher.account_id,
            voucher_id=voucher.voucher_id,
            title=program.spec.title,
            code=code,
            expires_at=voucher.expires_at,
        )


GIFT_CARDS_TOPIC = "loyalty.giftcard.v1"
_GIFT_CARD = "9f8e7d6c-5b4a-4392-8a1b-2c3d4e5f6a7b"


class GiftCardSold(IntegrationEvent):
    """A gift card was sold, at a shop or online, and holds its amount (its number and PIN are not here)."""

    model_config = examples(
        {
            "card_id": _GIFT_CARD,
            "kind": "virtual",
            "amount_minor": 5000,
            "currency": "EUR",
            "shop_id": "0f6b2c1e-7a3d-4e5f-8b9c-1d2e3f4a5b6c",
            "owner_id": None,
            "sold_at": "2026-03-20T15:00:00Z",
            "expires_at": "2027-03-20T15:00:00Z",
            "online": False,
        }
    )

    event_type = "loyalty.giftcard.sold"
    topic = GIFT_CARDS_TOPIC

    card_id: uuid.UUID = Field(description="The gift card; also the subject and Kafka key")
    kind: Literal["virtual", "physical"] = Field(
        description="virtual (numbered at sale) or physical (a batch's)"
    )
    amount_minor: int = Field(ge=1, le=MAX_ORDER_TOTAL_MINOR, description="What it holds")
    currency: str = Field(description="ISO 4217")
    shop_id: str | None = Field(description="Where it was sold; null: by the manager, or online")
    owner_id: str | None = Field(description="The member it was sold for, if any")
    sold_at: datetime = Field(description="When (UTC)")
    expires_at: datetime = Field(description="When it stops spending (UTC)")
    online: bool = Field(False, description="Bought online and paid through the payment provider")

    @classmethod
    def of(cls, card: GiftCard, *, online: bool = False) -> Self:
        assert card.sold_at is not None and card.expires_at is not None
        return cls(
            card_id=card.card_id,
            kind=card.kind,
            amount_minor=card.balance_minor,
            currency=card.currency,
            shop_id=card.sold_shop,
            owner_id=card.owner_id,
            sold_at=card.sold_at,
            expires_at=card.expires_at,
            online=online,
        )


class GiftCardDeliveryRequested(IntegrationEvent):
    """Email the member the gift card sold for her: its number and, for a virtual card, its PIN.
    Internal: the two together spend the card."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "card_id": _GIFT_CARD,
            "number": "4839201756482913",
            "pin": "482913",
            "amount_minor": 5000,
            "currency": "EUR",
            "expires_at": "2027-03-20T15:00:00Z",
        }
    )

    event_type = "loyalty.giftcard.delivery_requested"
    topic = REQUESTS_TOPIC
    internal = True

    account_id: str = Field(description="Whom to write to (notify knows her contact); the subject and key")
    card_id: uuid.UUID = Field(description="The gift card")
    number: str = Field(description="Its number")
    pin: str | None = Field(description="Its PIN; null for a physical card (printed on it)")
    amount_minor: int = Field(ge=1, le=MAX_ORDER_TOTAL_MINOR, description="What it holds")
    currency: str = Field(description="ISO 4217")
    expires_at: datetime = Field(description="When it stops spending (UTC)")

    @classmethod
    def of(cls, card: GiftCard, pin: str | None) -> Self:
        assert card.owner_id is not None and card.expires_at is not None
        return cls(
            account_id=card.owner_id,
            card_id=card.card_id,
            number=card.number,
            pin=pin,
            amount_minor=card.balance_minor,
            currency=card.currency,
            expires_at=card.expires_at,
        )


class GiftCardRedeemed(IntegrationEvent):
    """Part or all of a gift card was spent at a shop."""

    model_config = examples(
        {
            "card_id": _GIFT_CARD,
            "amount_minor": 2500,
            "balance_minor": 2500,
            "currency": "EUR",
            "shop_id": "0f6b2c1e-7a3d-4e5f-8b9c-1d2e3f4a5b6c",
            "redeemed_at": "2026-04-02T11:00:00Z",
        }
    )

    event_type = "loyalty.giftcard.redeemed"
    topic = GIFT_CARDS_TOPIC

    card_id: uuid.UUID = Field(description="The gift card; also the subject and Kafka key")
    amount_minor: int = Field(ge=1, le=MAX_ORDER_TOTAL_MINOR, description="What was spent")
    balance_minor: int = Field(ge=0, le=MAX_ORDER_TOTAL_MINOR, description="What it holds now")
    currency: str = Field(description="ISO 4217")
    shop_id: str | None = Field(description="Where; null: by the manager")
    redeemed_at: datetime = Field(description="When (UTC)")

    @classmethod
    def of(cls, card: GiftCard, move: GiftCardMove) -> Self:
        return cls(
            card_id=card.card_id,
            amount_minor=-move.amount_minor,
            balance_minor=card.balance_minor,
            currency=card.currency,
            shop_id=move.shop_id,
            redeemed_at=move.at,
        )


class PointsExpired(IntegrationEvent):
    """Points a member earned too long ago expired (the oldest first): one entry took them."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "entry_id": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
            "points": -12,
            "balance": 30,
            "cause_type": "expiry",
            "cause_id": "2027-03-02",
            "expired_at": "2027-03-02T02:00:00Z",
        }
    )

    event_type = "loyalty.points.expired"
    topic = "loyalty.points.v1"

    account_id: str = Field(description="The member; also the subject and Kafka key")
    entry_id: uuid.UUID = Field(description="The ledger entry that took them")
    points: int = Field(ge=-MAX_BALANCE, lt=0, description="The entry's points, signed as in the ledger")
    balance: int = Field(ge=0, le=MAX_BALANCE, description="The member's balance right after it")
    cause_type: str = Field(description='"expiry"')
    cause_id: str = Field(description="The day of the expiry job that wrote it (ISO date)")
    expired_at: datetime = Field(description="When (UTC)")

    @classmethod
    def of(cls, entry: PostedEntry) -> Self:
        return cls(**_entry(entry), expired_at=entry.created_at)


class PointsExpiryWarned(IntegrationEvent):
    """Some of a member's points will expire soon: notify warns her (once per expiry day)."""

    model_config = examples({"account_id": _ACCOUNT, "points": 12, "expires_on": "2027-03-02"})

    event_type = "loyalty.points.expiry_warned"
    topic = "loyalty.points.v1"

    account_id: str = Field(description="The member; also the subject and Kafka key")
    points: int = Field(gt=0, le=MAX_BALANCE, description="How many will expire by then")
    expires_on: date = Field(description="The day her oldest points expire")


class PointsReserved(IntegrationEvent):
    """Points a member pays an order with were reserved: debited at once, they come back (released)
    if the order does not go through."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "entry_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "points": -300,
            "balance": 120,
            "cause_type": "order",
            "cause_id": "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910",
            "pot": "purchase",
            "reserved_at": "2026-05-04T10:00:00Z",
        }
    )

    event_type = "loyalty.points.reserved"
    topic = "loyalty.points.v1"

    account_id: str = Field(description="The member; also the subject and Kafka key")
    entry_id: uuid.UUID = Field(description="The ledger entry that debited them")
    points: int = Field(ge=-MAX_ENTRY_POINTS, lt=0, description="The entry's points, signed as in the ledger")
    balance: int = Field(ge=0, le=MAX_BALANCE, description="The member's balance right after this entry")
    cause_type: str = Field(description='"order"')
    cause_id: str = Field(description="The order they pay")
    pot: Literal["purchase", "sponsor"] = Field(
        "purchase",
        description="Which of her balances: purchase points, or sponsor points (her team's orders)",
    )
    reserved_at: datetime = Field(description="When (UTC)")

    @classmethod
    def of(cls, entry: PostedEntry) -> Self:
        return cls(**_entry(entry), reserved_at=entry.created_at, pot=entry.pot)


class PointsReleased(IntegrationEvent):
    """Points reserved for an order came back: the order was refused, cancelled or never answered."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "entry_id": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
            "points": 300,
            "balance": 420,
            "cause_type": "order",
            "cause_id": "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910",
            "pot": "purchase",
            "released_at": "2026-05-04T12:00:00Z",
        }
    )

    event_type = "loyalty.points.released"
    topic = "loyalty.points.v1"

    account_id: str = Field(description="The member; also the subject and Kafka key")
    entry_id: uuid.UUID = Field(description="The ledger entry that credited them back")
    points: int = Field(gt=0, le=MAX_ENTRY_POINTS, description="The entry's points, signed as in the ledger")
    balance: int = Field(ge=0, le=MAX_BALANCE, description="The member's balance right after this entry")
    cause_type: str = Field(description='"order"')
    cause_id: str = Field(description="The order they were reserved for")
    pot: Literal["purchase", "sponsor"] = Field(
        "purchase",
        description="Which of her balances: purchase points, or sponsor points (her team's orders)",
    )
    released_at: datetime = Field(description="When (UTC)")

    @classmethod
    def of(cls, entry: PostedEntry) -> Self:
        return cls(**_entry(entry), released_at=entry.created_at, pot=entry.pot)


RESERVATIONS_TOPIC = "internal.loyalty.reservation.v1"
_ORDER = "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910"


class CodeCover(BaseModel):
    """What a code held for an order gives: its reward program."""

    title: str = Field(description="The reward's title")
    kind: Literal["discount", "cashback", "gift"] = Field(description="discount, cashback or gift")
    percent_bp: int = Field(ge=0, le=10_000, description="A discount's or cashback's rate (basis points)")


class ReservationHeld(IntegrationEvent):
    """Loyalty holds what the order pays with: its points, code and gift card amount, all of them.
    Internal: ordering's saga reads it."""

    model_config = examples(
        {
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "points": 300,
            "sponsor_points": 0,
            "gift_card_minor": 2000,
            "code": {"title": "10 % off", "kind": "discount", "percent_bp": 1000},
            "held_at": "2026-05-04T10:00:00Z",
            "settled": False,
        }
    )

    event_type = "loyalty.reservation.held"
    topic = RESERVATIONS_TOPIC
    internal = True

    order_id: uuid.UUID = Field(description="The order; also the subject and Kafka key")
    account_id: str = Field(description="The buyer")
    points: int = Field(ge=0, le=MAX_ENTRY_POINTS, description="Points held (0: none asked)")
    sponsor_points: int = Field(0, ge=0, le=MAX_ENTRY_POINTS, description="Sponsor points held (0: none)")
    gift_card_minor: int = Field(ge=0, le=MAX_ORDER_TOTAL_MINOR, description="Taken off the gift card")
    code: CodeCover | None = Field(description="What the code gives; null: no code asked")
    held_at: datetime = Field(description="When (UTC)")
    settled: bool = Field(
        False,
        description="Settled as held, as ordering asked (the order needs no approval): spent for good"
        " unless ordering releases them",
    )


class ReservationRefused(IntegrationEvent):
    """Loyalty holds nothing for the order: one item at least cannot pay, each refused one with its
    reason. Internal."""

    model_config = examples(
        {
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "reasons": {"points": "insufficient-points", "gift_card": "wrong-pin"},
            "refused_at": "2026-05-04T10:00:00Z",
        }
    )

    event_type = "loyalty.reservation.refused"
    topic = RESERVATIONS_TOPIC
    internal = True

    order_id: uuid.UUID = Field(description="The order; also the subject and Kafka key")
    account_id: str = Field(description="The buyer")
    reasons: dict[str, str] = Field(
        description="Per item (points, code, gift_card): insufficient-points, code-unusable, wrong-pin,"
        " gift-card-locked, gift-card-insufficient, gift-card-expired, unknown-gift-card…"
    )
    refused_at: datetime = Field(description="When (UTC)")


class ReservationSettled(IntegrationEvent):
    """What loyalty held for the order is spent for good: the order was confirmed. Internal."""

    model_config = examples(
        {"order_id": _ORDER, "account_id": _ACCOUNT, "settled_at": "2026-05-04T10:05:00Z"}
    )

    event_type = "loyalty.reservation.settled"
    topic = RESERVATIONS_TOPIC
    internal = True

    order_id: uuid.UUID = Field(description="The order; also the subject and Kafka key")
    account_id: str = Field(description="The buyer")
    settled_at: datetime = Field(description="When (UTC)")


class ReservationReleased(IntegrationEvent):
    """What loyalty held for the order came back (or, released before it was held, never will be
    held): ordering released it, or loyalty's timeout did while ordering never answered. Internal."""

    model_config = examples(
        {
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "by_timeout": False,
            "released_at": "2026-05-04T12:00:00Z",
        }
    )

    event_type = "loyalty.reservation.released"
    topic = RESERVATIONS_TOPIC
    internal = True

    order_id: uuid.UUID = Field(description="The order; also the subject and Kafka key")
    account_id: str = Field(description="The buyer")
    by_timeout: bool = Field(description="Released by loyalty's timeout: ordering never answered")
    released_at: datetime = Field(description="When (UTC)")
