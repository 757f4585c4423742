"""Wiring of the ordering service: its settings, events, consumers and routes."""

from __future__ import annotations

from pathlib import Path

from libs.common.clock import Clock, utc_now
from libs.common.events import EventCatalog
from libs.common.runtime import ServiceSpec
from libs.common.settings import ServiceSettings
from services.ordering import api, approval_api, balance_api, cart_api, checkout_api, returns_api, statistics
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
            *statistics.ENDPOINTS,
        ],
        api=balance_api.configure(settings),
        clock=clock,
    )
