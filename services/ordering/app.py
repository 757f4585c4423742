"""Wiring of the ordering service: its settings, events, consumers and routes."""

from __future__ import annotations

import functools
from datetime import timedelta
from pathlib import Path

from pydantic import Field

from libs.common.clock import Clock, utc_now
from libs.common.events import EventCatalog
from libs.common.payments import callback_url, provider_of
from libs.common.runtime import ServiceSpec
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
    statistics,
)
from services.ordering.consumers import HANDLERS
from services.ordering.events import (
    SERVICE,
    BalanceCredited,
    BalanceDebited,
    OrderApproved,
    OrderCancelled,
    OrderConfirmed,
    OrderDelivered,
    OrderHeldForApproval,
    OrderModified,
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

    def instalment_rules(self) -> instalments.Rules:
        return instalments.Rules(self.instalment_attempts, timedelta(seconds=self.instalment_retry_s))


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
        ],
        api=balance_api.configure(settings, settings.instalment_rules()),
        workers=[
            functools.partial(
                instalments.charging_worker,
                provider_of=lambda http: provider_of(settings, lambda: http),
                rules=settings.instalment_rules(),
                callback_url=callback_url(settings),
                clock=clock,
                interval_s=settings.instalment_check_s,
            )
        ],
        clock=clock,
    )
