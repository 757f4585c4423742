"""Wiring of the ordering service: its settings, events, consumers and routes."""

from __future__ import annotations

import functools
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from pydantic import Field

from libs.common.clock import Clock, utc_now
from libs.common.db import POOL, Announcements
from libs.common.events import EventCatalog
from libs.common.payments import callback_url, provider_of
from libs.common.runtime import ApiSetup, ServiceSpec
from libs.common.settings import ServiceSettings
from services.ordering import (
    api,
    approval_api,
    balance_api,
    cart_api,
    checkout_api,
    instalments,
    instalments_api,
    returns_api,
    saga,
    statistics,
)
from services.ordering.consumers import HANDLERS
from services.ordering.events import (
    SERVICE,
    BalanceCredited,
    BalanceDebited,
    CheckoutAcknowledged,
    CheckoutConfirmed,
    CheckoutReleased,
    CheckoutSubmitted,
    OrderApproved,
    OrderCancelled,
    OrderConfirmed,
    OrderDelivered,
    OrderHeldForApproval,
    OrderModified,
    OrderPaymentRefused,
    OrderRefused,
    OrderShipped,
    OrderSubmitted,
    ReturnAccepted,
    ReturnOpened,
    ReturnRefused,
)


class Settings(ServiceSettings):
    service_name: str = SERVICE
    http_port: int = 8083
    instalment_check_s: float = Field(
        60.0, gt=0, description="How often the worker charges the instalments due"
    )
    instalment_attempts: int = Field(
        3, ge=1, le=10, description="Charges tried per instalment before it is flagged"
    )
    instalment_retry_s: float = Field(
        86_400.0, gt=0, description="Wait after a failed charge before the next try"
    )
    saga_check_s: float = Field(
        30.0, gt=0, description="How often pending orders loyalty never answered expire"
    )
    saga_expiry_s: float = Field(
        3600.0, gt=0, description="A pending order loyalty has not answered for this long is refused"
    )
    saga_stuck_s: float = Field(
        120.0, gt=0, description="A saga waiting on loyalty this long shows as stuck to the admin"
    )

    def instalment_rules(self) -> instalments.Rules:
        return instalments.Rules(self.instalment_attempts, timedelta(seconds=self.instalment_retry_s))


def _configure(settings: Settings) -> ApiSetup:
    payments = balance_api.configure(settings, settings.instalment_rules())

    async def stop_watching(app: web.Application) -> None:
        await app[api.ORDER_MOVES].close()

    def setup(app: web.Application) -> None:
        payments(app)
        app[saga.STUCK_AFTER] = timedelta(seconds=settings.saga_stuck_s)
        app[api.ORDER_MOVES] = Announcements(app[POOL], api.ORDER_MOVES_TOPIC, settings.db_schema)
        app.on_cleanup.append(stop_watching)

    return setup


def build_spec(settings: Settings, clock: Clock = utc_now) -> ServiceSpec:
    """The service under these settings; tests give it a clock they can move (price list validity)."""
    return ServiceSpec(
        name=SERVICE,
        folder=Path(__file__).parent,
        events=EventCatalog(
            SERVICE,
            [
                OrderSubmitted,
                OrderHeldForApproval,
                OrderApproved,
                OrderRefused,
                OrderPaymentRefused,
                OrderModified,
                OrderConfirmed,
                OrderCancelled,
                OrderShipped,
                OrderDelivered,
                BalanceCredited,
                BalanceDebited,
                ReturnOpened,
                ReturnAccepted,
                ReturnRefused,
                CheckoutSubmitted,
                CheckoutAcknowledged,
                CheckoutConfirmed,
                CheckoutReleased,
            ],
        ),
        handlers=HANDLERS,
        endpoints=[
            *api.ENDPOINTS,
            *approval_api.ENDPOINTS,
            *balance_api.ENDPOINTS,
            *cart_api.ENDPOINTS,
            *checkout_api.ENDPOINTS,
            *returns_api.ENDPOINTS,
            *instalments_api.ENDPOINTS,
            *statistics.ENDPOINTS,
            *saga.ENDPOINTS,
        ],
        api=_configure(settings),
        workers=[
            functools.partial(
                instalments.charging_worker,
                provider_of=lambda http: provider_of(settings, lambda: http),
                rules=settings.instalment_rules(),
                callback_url=callback_url(settings),
                clock=clock,
                interval_s=settings.instalment_check_s,
            ),
            functools.partial(
                saga.expiry_worker,
                interval_s=settings.saga_check_s,
                after=timedelta(seconds=settings.saga_expiry_s),
                clock=clock,
            ),
        ],
        clock=clock,
    )
