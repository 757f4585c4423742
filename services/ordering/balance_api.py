"""The account balance's HTTP API, and what card payments share: a buyer reads her balance and its
history and tops it up by card (the provider's page, then its signed notice); an admin reads any of
the tenant's balances; the provider posts its notices (of top-ups and instalments) here."""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from libs.common import idempotency
from libs.common.api import PUBLIC, SELF, TENANT, Endpoint, Owner, grant, owned, path_uuid
from libs.common.auth import Principal, principal
from libs.common.clock import now
from libs.common.http import Problem, json_response, read_json, read_query
from libs.common.limits import MAX_BALANCE
from libs.common.payments import (
    CALLBACK_URL,
    PAYMENTS,
    PUBLIC_URL,
    PaymentError,
    install,
    provider_unavailable,
    read_notice,
)
from libs.common.payments import return_url as payment_return_url
from libs.common.runtime import HTTP_CLIENT, POOL, ApiSetup
from libs.common.settings import ServiceSettings
from services.ordering import balance, instalments, payments
from services.ordering.balance import BalanceEntry
from services.ordering.payments import Payment

log = structlog.get_logger()


INSTALMENT_RULES = web.AppKey("instalment_rules", instalments.Rules)
DEFAULT_LIMIT, MAX_LIMIT = 50, 200


def configure(settings: ServiceSettings, rules: instalments.Rules) -> ApiSetup:
    """The provider the api role pays through, where its notices reach us, the instalments' rules."""

    def setup(app: web.Application) -> None:
        install(app, settings, lambda: app[HTTP_CLIENT])
        app[INSTALMENT_RULES] = rules

    return setup


class BalanceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="At most this many entries and top-ups")


class BalanceView(BaseModel):
    account_id: str = Field(description="Whose balance")
    balance_minor: int = Field(description="What it holds, in minor units")
    currency: str | None = Field(description="ISO 4217 currency; null until the first top-up")
    entries: list[BalanceEntry] = Field(description="Its moves, newest first")
    top_ups: list[Payment] = Field(description="Card top-ups, newest first, pending and failed ones too")


class TopUp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_minor: int = Field(strict=True, ge=1, le=MAX_BALANCE, description="How much, in minor units")
    currency: str = Field("EUR", pattern="^[A-Z]{3}$", description="ISO 4217; the balance's own")
    return_url: str | None = Field(
        None, max_length=2000, description="Where the provider sends the buyer back (this platform's own URL)"
    )


class PaymentStarted(BaseModel):
    payment: Payment = Field(description="The payment, pending until the provider's notice")
    redirect_url: str = Field(description="The provider's page where the buyer pays")

    @classmethod
    def of(cls, started: payments.Started) -> PaymentStarted:
        return cls(payment=started.payment, redirect_url=started.redirect_url)


async def _view(request: web.Request, tenant_id: str, account_id: str) -> web.Response:
    query = read_query(request, BalanceQuery)
    pool = request.app[POOL]
    held = await balance.balance_of(pool, tenant_id, account_id)
    return json_response(
        BalanceView(
            account_id=account_id,
            balance_minor=held.balance_minor,
            currency=held.currency,
            entries=await balance.entries(pool, tenant_id, account_id, query.limit),
            top_ups=await payments.of_account(pool, tenant_id, account_id, "top_up", query.limit),
        )
    )


async def my_balance(request: web.Request) -> web.Response:
    caller = principal(request)
    return await _view(request, caller.tenant_id, caller.account_id)


async def balance_owner(request: web.Request, caller: Principal) -> Owner | None:
    """An account's balance, if it ever had one (a top-up started or an entry) in the caller's tenant."""
    account_id = request.match_info["account_id"]
    known = await request.app[POOL].fetchval(
        "SELECT EXISTS (SELECT 1 FROM balances WHERE tenant_id = $1 AND account_id = $2)"
        " OR EXISTS (SELECT 1 FROM payments WHERE tenant_id = $1 AND account_id = $2)",
        caller.tenant_id,
        account_id,
    )
    return Owner(caller.tenant_id, None, account_id) if known else None


async def account_balance(request: web.Request) -> web.Response:
    return await _view(request, principal(request).tenant_id, request.match_info["account_id"])


def return_url(request: web.Request, asked: str | None) -> str:
    return payment_return_url(request.app[PUBLIC_URL], asked)


async def top_up(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, TopUp)
    back = return_url(request, body.return_url)
    conn = await idempotency.once(request, body)
    try:
        started = await balance.start_top_up(
            conn,
            request.app[PAYMENTS],
            caller.tenant_id,
            caller.account_id,
            body.amount_minor,
            body.currency,
            callback_url=request.app[CALLBACK_URL],
            return_url=back,
            at=now(request),
        )
    except PaymentError as exc:
        log.warning("payment provider unavailable", error=str(exc))
        raise provider_unavailable() from exc
    return json_response(
        PaymentStarted(payment=started.payment, redirect_url=started.redirect_url), status=201
    )


async def payment_owner(request: web.Request, caller: Principal) -> Owner | None:
    payment_id = path_uuid(request, "payment_id")
    found = await payments.find(request.app[POOL], payment_id) if payment_id else None
    if found is None:
        return None
    tenant_id, payment = found
    return Owner(tenant_id, None, payment.account_id, resource=payment)


async def get_top_up(request: web.Request) -> web.Response:
    return json_response(owned(request, Payment))


class NoticeAnswer(BaseModel):
    payment_id: uuid.UUID = Field(description="Our payment the notice was about")
    status: str = Field(description="The payment's status after it")
    received_at: datetime = Field(description="When we read it")


async def receive_notice(request: web.Request) -> web.Response:
    """The provider's notice: verified first (400, nothing changed, when it is not the provider's),
    then applied once; a notice for a payment not recorded yet answers 404 and the provider retries."""
    provider = request.app[PAYMENTS]
    notice = await read_notice(request, provider)
    at = now(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        try:
            decided = await payments.decide(conn, notice, at)
        except payments.UnknownPayment as exc:
            raise Problem(404, "Unknown payment", type="unknown-payment", detail=f"no payment {exc}") from exc
        payment = decided.payment
        if decided.now_decided and payment.purpose == "top_up" and payment.status == "succeeded":
            payment = await balance.credit_top_up(conn, provider, decided.tenant_id, payment, at)
        elif decided.now_decided and payment.purpose == "instalment":
            await instalments.settle(conn, provider, request.app[INSTALMENT_RULES], payment, notice, at)
    log.info("payment notice", payment_id=str(payment.payment_id), status=payment.status)
    return json_response(NoticeAnswer(payment_id=payment.payment_id, status=payment.status, received_at=at))


BUYERS = grant(partner=SELF, validator=SELF, seller=SELF, customer=SELF)

ENDPOINTS = [
    Endpoint(
        "GET",
        "/balance",
        my_balance,
        "The caller's account balance with its moves and card top-ups, newest first (?limit=)",
        roles=BUYERS,
        response=BalanceView,
        query=BalanceQuery,
    ),
    Endpoint(
        "POST",
        "/balance/top-ups",
        top_up,
        "Top up the caller's balance by card: a payment at the provider, whose page (`redirect_url`) the"
        " buyer pays on before coming back to `return_url`; the balance is credited when the provider's"
        " notice says it succeeded",
        roles=BUYERS,
        body=TopUp,
        response=PaymentStarted,
        status=201,
        idempotent=True,
        problems={503: "the payment provider cannot be reached: nothing was charged"},
    ),
    Endpoint(
        "GET",
        "/balance/top-ups/{payment_id}",
        get_top_up,
        "One top-up: pending until the provider's notice, then succeeded or failed (with the reason)",
        roles=grant(admin=TENANT, partner=SELF, validator=SELF, seller=SELF, customer=SELF),
        response=Payment,
        owner=payment_owner,
    ),
    Endpoint(
        "GET",
        "/accounts/{account_id}/balance",
        account_balance,
        "An account's balance with its moves and top-ups: the tenant's for an admin (404 for an account"
        " that never had one)",
        roles=grant(admin=TENANT),
        response=BalanceView,
        query=BalanceQuery,
        owner=balance_owner,
    ),
    Endpoint(
        "POST",
        "/payments/notices",
        receive_notice,
        "The payment provider's signed notice of a payment's outcome (header Payment-Signature); the same"
        " notice twice, or a late one, changes nothing",
        roles=PUBLIC,
        response=NoticeAnswer,
        problems={
            400: "the signature is missing, wrong or too old",
            404: "no such payment yet: send it again",
        },
    ),
]
