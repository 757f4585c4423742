"""Taking money through a payment provider: start a payment the buyer completes on the provider's
page, receive its outcome as a signed notice (webhook), refund it, or charge a card saved by an
earlier payment (instalments).

`PaymentProvider` is what a service needs of a provider; `HttpPaymentProvider` speaks the plain
HTTP protocol below, which the local fake provider of the dev stack implements and an adapter of a
real provider (its SDK, its webhook format) implements the same way. The protocol:

- `POST {base}/payments` with `Authorization: Bearer <api key>` and JSON `{amount_minor, currency,
  reference, description, callback_url, return_url, save_card}` → 201 `{payment_id, redirect_url}`:
  the buyer is sent to `redirect_url`, pays there, and is sent back to `return_url`.
- `POST {base}/charges` with `{amount_minor, currency, reference, card_id, callback_url}` → 201
  `{payment_id}`: a charge of a saved card, without the buyer; the same reference again is the
  same charge (a real provider's idempotency key), so a charge may safely be sent again.
- `POST {base}/payments/{payment_id}/refunds` with `{amount_minor, reference}` → 201
  `{refund_id, status}`; the same reference twice refunds once.
- The outcome of a payment or charge is `POST`ed to its `callback_url` as a `Notice` in JSON with the
  header `Payment-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the webhook
  secret>`. A notice may come twice, late, or before the payment's start has returned; the provider
  retries it until it is answered 2xx.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from libs.common.errors import Invalid
from libs.common.http import Problem

if TYPE_CHECKING:  # the settings name the provider's keys, whose local defaults are defined here
    from libs.common.settings import ServiceSettings

LOCAL_API_KEY = "local-payments-key"
LOCAL_WEBHOOK_SECRET = "local-payments-secret"
"""The fake provider's credentials (libs/devstack): the settings' defaults, accepted only for a
provider on this machine."""

SIGNATURE_HEADER = "Payment-Signature"
SIGNATURE_TOLERANCE_S = 300
"""A notice signed longer ago than this is refused: a captured notice cannot be replayed later."""


class PaymentError(Exception):
    """The provider could not be reached or refused the request itself (not the buyer's card)."""


class InvalidNotice(Exception):
    """A notice whose signature is missing, wrong or too old, or whose body is not a notice."""


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class StartPayment(_Message):
    amount_minor: int = Field(gt=0)
    currency: str
    reference: str = Field(description="Ours: the notice names it, so it finds our record")
    description: str
    callback_url: str
    return_url: str
    save_card: bool = False


class StartedPayment(_Message):
    payment_id: str
    redirect_url: str


class Charge(_Message):
    amount_minor: int = Field(gt=0)
    currency: str
    reference: str
    card_id: str
    callback_url: str


class Refund(_Message):
    refund_id: str
    status: Literal["succeeded", "failed"]


class Notice(_Message):
    """A payment's outcome, as the provider tells it."""

    notice_id: str = Field(description="Unique per notice: the same notice twice is one")
    payment_id: str
    reference: str
    status: Literal["succeeded", "failed"]
    amount_minor: int
    currency: str
    reason: str | None = Field(None, description="Why it failed, for the buyer")
    card_id: str | None = Field(None, description="The saved card, when the payment asked to save it")


class PaymentProvider(Protocol):
    async def start(self, payment: StartPayment) -> StartedPayment: ...

    async def charge(self, charge: Charge) -> str:
        """The provider's payment id; the outcome comes as a notice."""
        ...

    async def refund(self, payment_id: str, amount_minor: int, reference: str) -> Refund: ...

    def verify(self, body: bytes, signature: str | None, now: float | None = None) -> Notice:
        """The notice in `body` if `signature` is the provider's, else InvalidNotice."""
        ...


def sign(secret: str, body: bytes, at: float) -> str:
    """The `Payment-Signature` header of `body` sent at `at` (unix seconds)."""
    stamp = str(int(at))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def verify_notice(secret: str, body: bytes, signature: str | None, now: float | None = None) -> Notice:
    """The notice, if signed with `secret` less than `SIGNATURE_TOLERANCE_S` ago; else InvalidNotice."""
    if not signature:
        raise InvalidNotice(f"no {SIGNATURE_HEADER} header")
    parts = dict(part.split("=", 1) for part in signature.split(",") if "=" in part)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not given:
        raise InvalidNotice("the signature is malformed")
    expected = sign(secret, body, int(stamp)).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise InvalidNotice("the signature does not match")
    if abs((time.time() if now is None else now) - int(stamp)) > SIGNATURE_TOLERANCE_S:
        raise InvalidNotice("the signature is too old")
    try:
        return Notice.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidNotice(f"the body is not a notice: {exc.error_count()} errors") from exc


class HttpPaymentProvider:
    """A provider speaking the protocol of this module's docstring."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        webhook_secret: str,
        session: Callable[[], aiohttp.ClientSession],
        timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._secret = webhook_secret
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def _post(self, path: str, payload: dict[str, object]) -> dict[str, object]:
        try:
            async with self._session().post(
                f"{self.base_url}{path}",
                json=payload,
                headers={"Authorization": f"Bearer {self._api_key}"},
                timeout=self._timeout,
            ) as response:
                text = await response.text()
                if response.status != 201:
                    raise PaymentError(f"the provider answered {response.status}: {text[:200]}")
                answer = json.loads(text)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise PaymentError(f"the provider could not be reached: {exc!r}") from exc
        if not isinstance(answer, dict):
            raise PaymentError("the provider's answer is not an object")
        return answer

    async def start(self, payment: StartPayment) -> StartedPayment:
        answer = await self._post("/payments", payment.model_dump())
        try:
            return StartedPayment.model_validate(answer)
        except ValidationError as exc:
            raise PaymentError("the provider's answer has no payment_id or redirect_url") from exc

    async def charge(self, charge: Charge) -> str:
        answer = await self._post("/charges", charge.model_dump())
        payment_id = answer.get("payment_id")
        if not isinstance(payment_id, str):
            raise PaymentError("the provider's answer has no payment_id")
        return payment_id

    async def refund(self, payment_id: str, amount_minor: int, reference: str) -> Refund:
        answer = await self._post(
            f"/payments/{payment_id}/refunds", {"amount_minor": amount_minor, "reference": reference}
        )
        try:
            return Refund.model_validate(answer)
        except ValidationError as exc:
            raise PaymentError("the provider's refund answer is malformed") from exc

    def verify(self, body: bytes, signature: str | None, now: float | None = None) -> Notice:
        return verify_notice(self._secret, body, signature, now)


PAYMENTS = web.AppKey("payments", PaymentProvider)
CALLBACK_URL = web.AppKey("payment_callback_url", str)
PUBLIC_URL = web.AppKey("public_url", str)


def install(
    app: web.Application, settings: ServiceSettings, session: Callable[[], aiohttp.ClientSession]
) -> None:
    """Give a service's API its provider (`PAYMENTS`), where the provider's notices reach it
    (`CALLBACK_URL`) and its public URL, which return URLs must start with (`PUBLIC_URL`)."""
    app[PAYMENTS] = provider_of(settings, session)
    app[CALLBACK_URL] = callback_url(settings)
    app[PUBLIC_URL] = settings.public_url.rstrip("/")


def provider_of(settings: ServiceSettings, session: Callable[[], aiohttp.ClientSession]) -> PaymentProvider:
    """The provider a service's settings name."""
    return HttpPaymentProvider(
        settings.payment_provider_url,
        settings.payment_api_key.get_secret_value(),
        settings.payment_webhook_secret.get_secret_value(),
        session=session,
    )


def callback_url(settings: ServiceSettings) -> str:
    """Where the provider's notices reach the service: `/payments/notices` through the gateway."""
    return f"{settings.public_url.rstrip('/')}/api/{settings.service_name}/payments/notices"


def provider_unavailable() -> Problem:
    return Problem(
        503,
        "The payment provider is unavailable",
        type="payment-provider-unavailable",
        detail="try again in a moment: nothing was done",
    )


def return_url(public_url: str, asked: str | None) -> str:
    """Only back to this platform: a payment must not send its buyer to someone else's site."""
    public = public_url.rstrip("/")
    if asked is None:
        return f"{public}/"
    if asked != public and not asked.startswith(f"{public}/"):
        raise Invalid.field("return_url", f"the return URL must start with {public}/", "foreign-return-url")
    return asked


async def read_notice(request: web.Request, provider: PaymentProvider) -> Notice:
    """The provider's notice in the request, verified: 400 (nothing changed) when it is not the
    provider's."""
    try:
        return provider.verify(await request.read(), request.headers.get(SIGNATURE_HEADER))
    except InvalidNotice as exc:
        raise Problem(400, "Invalid notice", type="invalid-notice", detail=str(exc)) from exc
