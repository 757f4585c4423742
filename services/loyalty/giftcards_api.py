"""Loyalty's HTTP API of gift cards: the manager's batches of physical cards; a shop sells a card and
redeems one with its PIN; a member buys one online (for herself or another member) and sees the
cards sold for her; the payment provider posts its notices here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Self

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints, model_validator

from libs.common import idempotency
from libs.common.api import (
    AUTHENTICATED,
    PUBLIC,
    SELF,
    TENANT,
    Endpoint,
    Owner,
    grant,
    owned,
    path_uuid,
    roles,
)
from libs.common.auth import Principal, principal
from libs.common.clock import now
from libs.common.errors import Invalid
from libs.common.http import Problem, json_response, read_json
from libs.common.limits import MAX_ORDER_TOTAL_MINOR
from libs.common.payments import (
    CALLBACK_URL,
    PAYMENTS,
    PUBLIC_URL,
    PaymentError,
    provider_unavailable,
    read_notice,
    return_url,
)
from libs.common.runtime import POOL
from services.loyalty import directory, giftcards, purchases
from services.loyalty.counter_api import STAFF, Currency
from services.loyalty.giftcards import GiftCard, Move, WrongPin
from services.loyalty.purchases import Purchase

log = structlog.get_logger()


ADMIN = roles("admin")
MEMBERS = grant(customer=SELF, partner=SELF, seller=SELF, validator=SELF)
Number = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Za-z -]{4,40}$")]
Pin = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{4,8}$")]
Amount = Annotated[int, Field(ge=1, le=MAX_ORDER_TOTAL_MINOR)]


class GiftCardView(BaseModel):
    card_id: uuid.UUID = Field(description="The card")
    number: str = Field(description="Its number (it never spends alone: the PIN is needed)")
    kind: str = Field(description="virtual or physical")
    balance_minor: int = Field(description="What it holds")
    currency: str = Field(description="ISO 4217")
    sold_at: datetime | None = Field(description="When it was sold; null: a batch's card not sold yet")
    expires_at: datetime | None = Field(description="When it stops spending")
    locked: bool = Field(description="Locked after too many wrong PINs")

    @classmethod
    def of(cls, card: GiftCard) -> GiftCardView:
        return cls.model_validate(card.model_dump() | {"locked": card.locked_at is not None})


class MoveView(BaseModel):
    kind: str = Field(description="sale or redeem")
    amount_minor: int = Field(description="Signed: what it added or took")
    balance_minor: int = Field(description="What the card held after it")
    shop_id: str | None = Field(description="Where")
    at: datetime = Field(description="When (UTC)")

    @classmethod
    def of(cls, move: Move) -> MoveView:
        return cls.model_validate(move.model_dump())


class SoldCard(GiftCardView):
    pin: str | None = Field(description="A virtual card's PIN, answered this once; null for a physical card")


class GiftCardWithMoves(GiftCardView):
    moves: list[MoveView] = Field(description="Its history, newest first")


class GiftCardList(RootModel[list[GiftCardWithMoves]]):
    """Gift cards, newest first."""


class NumberAndPin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: Number = Field(description="The card's number")
    pin: Pin = Field(description="Its PIN")


class NewBatch(BaseModel):
    """Physical cards to print or imported from the printer: generated (`count`) or given (`cards`)."""

    model_config = ConfigDict(extra="forbid")

    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = Field(
        description="What the manager calls the batch"
    )
    count: int | None = Field(None, ge=1, le=giftcards.MAX_BATCH, description="Generate this many")
    cards: list[NumberAndPin] | None = Field(
        None, min_length=1, max_length=giftcards.MAX_BATCH, description="Or import these numbers and PINs"
    )

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if (self.count is None) == (self.cards is None):
            raise ValueError("give count (to generate) or cards (to import), not both")
        return self


class BatchCreated(BaseModel):
    batch_id: uuid.UUID = Field(description="The batch")
    cards: list[NumberAndPin] = Field(description="Its numbers and PINs, answered this once (to print)")


class SellGiftCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_minor: Amount = Field(description="What the card holds once sold")
    currency: Currency = Field("EUR", description="ISO 4217")
    number: Number | None = Field(None, description="A physical card's number; absent: a new virtual card")
    for_card: Number | None = Field(None, description="The loyalty card of the member it is for, if any")


class RedeemGiftCard(NumberAndPin):
    amount_minor: Amount = Field(description="What to take off the card")


class BuyGiftCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_minor: Amount = Field(description="What the card will hold, and what is paid")
    currency: Currency = Field("EUR", description="ISO 4217")
    for_card: Number | None = Field(
        None, description="The loyalty card of the member it is for; absent: the buyer"
    )
    return_url: str | None = Field(
        None, max_length=2000, description="Where the provider sends the buyer back (this platform's own URL)"
    )


class PurchaseStarted(BaseModel):
    purchase: Purchase = Field(description="The purchase, pending until the provider's notice")
    redirect_url: str = Field(description="The provider's page where the buyer pays")


class NoticeAnswer(BaseModel):
    purchase_id: uuid.UUID = Field(description="The purchase the notice was about")
    status: str = Field(description="Its status after it")


class Redeemed(BaseModel):
    card: GiftCardView = Field(description="The card after it")
    move: MoveView = Field(description="What was taken")


def _shop(request: web.Request) -> str | None:
    caller = principal(request)
    return None if caller.has_role("admin") else caller.organisation_id


def _wrong_pin(wrong: WrongPin) -> Invalid:
    return Invalid.field("pin", f"wrong PIN: {wrong.left} tries left before the card locks", "wrong_pin")


async def create_batch(request: web.Request) -> web.Response:
    body = await read_json(request, NewBatch)
    conn = await idempotency.once(request, body, exclude={"cards": {"__all__": {"pin"}}})
    given = [(c.number, c.pin) for c in body.cards] if body.cards else body.count
    assert given is not None
    batch_id, made = await giftcards.add_batch(
        conn, principal(request).tenant_id, body.label, given, now(request)
    )
    created = BatchCreated(batch_id=batch_id, cards=[NumberAndPin(number=n, pin=p) for n, p in made])
    return json_response(created, status=201)


async def sell(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, SellGiftCard)
    owner = None if body.for_card is None else await _member_of_card(request, body.for_card)
    conn = await idempotency.once(request, body)
    card, pin = await giftcards.sell(
        conn,
        caller.tenant_id,
        body.amount_minor,
        body.currency,
        _shop(request),
        caller.account_id,
        now(request),
        number=body.number,
        owner_id=owner,
    )
    return json_response(SoldCard(**GiftCardView.of(card).model_dump(), pin=pin), status=201)


async def _member_of_card(request: web.Request, number: str) -> str:
    member = await directory.member_by_card(request.app[POOL], principal(request).tenant_id, number)
    if member is None:
        raise Invalid.field("for_card", "no member of this shop has this card", "unknown_card")
    return member.account_id


async def buy(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, BuyGiftCard)
    back = return_url(request.app[PUBLIC_URL], body.return_url)
    owner = caller.account_id if body.for_card is None else await _member_of_card(request, body.for_card)
    conn = await idempotency.once(request, body)
    try:
        purchase, redirect = await purchases.start(
            conn,
            request.app[PAYMENTS],
            caller.tenant_id,
            caller.account_id,
            owner,
            body.amount_minor,
            body.currency,
            callback_url=request.app[CALLBACK_URL],
            return_url=back,
            at=now(request),
        )
    except PaymentError as exc:
        log.warning("payment provider unavailable", error=str(exc))
        raise provider_unavailable() from exc
    return json_response(PurchaseStarted(purchase=purchase, redirect_url=redirect), status=201)


async def purchase_owner(request: web.Request, caller: Principal) -> Owner | None:
    purchase_id = path_uuid(request, "purchase_id")
    found = await purchases.find(request.app[POOL], purchase_id) if purchase_id else None
    if found is None:
        return None
    tenant_id, purchase = found
    return Owner(tenant_id, None, purchase.buyer_id, resource=purchase)


async def get_purchase(request: web.Request) -> web.Response:
    return json_response(owned(request, Purchase))


async def receive_notice(request: web.Request) -> web.Response:
    """The provider's notice: verified first (400, nothing changed, when it is not the provider's),
    then applied once; a notice for a purchase not recorded yet answers 404 and the provider retries."""
    notice = await read_notice(request, request.app[PAYMENTS])
    async with request.app[POOL].acquire() as conn, conn.transaction():
        purchase = await purchases.decide(conn, notice, now(request))
    if purchase is None:
        raise Problem(
            404, "Unknown purchase", type="unknown-payment", detail=f"no purchase {notice.reference}"
        )
    log.info("payment notice", purchase_id=str(purchase.purchase_id), status=purchase.status)
    return json_response(NoticeAnswer(purchase_id=purchase.purchase_id, status=purchase.status))


async def redeem(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, RedeemGiftCard)
    wrong = None
    at, shop = now(request), _shop(request)
    # A wrong PIN is counted (committed) even though the request is refused.
    async with request.app[POOL].acquire() as conn, conn.transaction():
        try:
            card = await giftcards.check_pin(conn, caller.tenant_id, body.number, body.pin, at)
        except WrongPin as refused:
            wrong = refused
        else:
            spent, move = await giftcards.redeem(
                conn, caller.tenant_id, card, body.amount_minor, shop, caller.account_id, at
            )
    if wrong is not None:
        raise _wrong_pin(wrong)
    return json_response(Redeemed(card=GiftCardView.of(spent), move=MoveView.of(move)))


async def check_balance(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, NumberAndPin)
    wrong = None
    async with request.app[POOL].acquire() as conn, conn.transaction():
        try:
            card = await giftcards.check_pin(conn, caller.tenant_id, body.number, body.pin, now(request))
        except WrongPin as refused:
            wrong = refused
        else:
            history = await giftcards.moves(conn, card.card_id)
    if wrong is not None:
        raise _wrong_pin(wrong)
    view = GiftCardWithMoves(**GiftCardView.of(card).model_dump(), moves=[MoveView.of(m) for m in history])
    return json_response(view)


async def my_gift_cards(request: web.Request) -> web.Response:
    caller = principal(request)
    pool = request.app[POOL]
    cards = await giftcards.of_owner(pool, caller.tenant_id, caller.account_id)
    return json_response(
        GiftCardList(
            [
                GiftCardWithMoves(
                    **GiftCardView.of(card).model_dump(),
                    moves=[MoveView.of(m) for m in await giftcards.moves(pool, card.card_id)],
                )
                for card in cards
            ]
        )
    )


ENDPOINTS = [
    Endpoint(
        "POST",
        "/gift-cards/batches",
        create_batch,
        "A batch of physical gift cards, generated or imported: its numbers and PINs are answered once",
        roles=ADMIN,
        body=NewBatch,
        response=BatchCreated,
        status=201,
        idempotent=True,
    ),
    Endpoint(
        "POST",
        "/gift-cards/sales",
        sell,
        "Sell a gift card at the caller's shop: a batch's physical card by its number, or a new virtual one",
        roles=STAFF,
        body=SellGiftCard,
        response=SoldCard,
        status=201,
        idempotent=True,
        problems={404: "no such physical card", 409: "the card was sold already"},
    ),
    Endpoint(
        "POST",
        "/gift-cards/redemptions",
        redeem,
        "Spend part or all of a gift card, with its PIN (wrong PINs lock it after five)",
        roles=STAFF,
        body=RedeemGiftCard,
        response=Redeemed,
        problems={
            404: "no such card",
            409: "locked, not sold, or holding less than asked",
            410: "expired",
        },
    ),
    Endpoint(
        "POST",
        "/gift-cards/balance-checks",
        check_balance,
        "A gift card's balance and history, with its PIN (wrong PINs count)",
        roles=STAFF,
        body=NumberAndPin,
        response=GiftCardWithMoves,
        problems={404: "no such card", 409: "locked"},
    ),
    Endpoint(
        "POST",
        "/gift-cards/purchases",
        buy,
        "Buy a virtual gift card online, for the caller or the member whose card is named: a payment at"
        " the provider, whose page (`redirect_url`) the buyer pays on before coming back to"
        " `return_url`; once the provider's notice says it is paid, the card is issued and emailed to"
        " its owner with its PIN",
        roles=MEMBERS,
        body=BuyGiftCard,
        response=PurchaseStarted,
        status=201,
        idempotent=True,
        problems={503: "the payment provider cannot be reached: nothing was charged"},
    ),
    Endpoint(
        "GET",
        "/gift-cards/purchases/{purchase_id}",
        get_purchase,
        "One online purchase: pending until the provider's notice, then succeeded (with its card) or failed",
        roles=grant(admin=TENANT, customer=SELF, partner=SELF, seller=SELF, validator=SELF),
        response=Purchase,
        owner=purchase_owner,
    ),
    Endpoint(
        "POST",
        "/payments/notices",
        receive_notice,
        "The payment provider's signed notice of a gift card purchase's outcome (header"
        " Payment-Signature); the same notice twice, or a late one, changes nothing",
        roles=PUBLIC,
        response=NoticeAnswer,
        problems={
            400: "the signature is missing, wrong or too old",
            404: "no such purchase yet: send it again",
        },
    ),
    Endpoint(
        "GET",
        "/gift-cards",
        my_gift_cards,
        "The gift cards sold for the caller, with their history",
        roles=AUTHENTICATED,
        response=GiftCardList,
    ),
]
