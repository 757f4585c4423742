"""Wiring of the loyalty service: its settings, events, consumers and routes."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field

from libs.common.clock import Clock, utc_now
from libs.common.events import EventCatalog
from libs.common.runtime import ServiceSpec
from libs.common.settings import ServiceSettings
from services.loyalty import api, consumers, counter_api, expiry, giftcards_api, reservations, vouchers_api
from services.loyalty.domain import DEFAULT_POINTS_PER_UNIT, MAX_POINTS_PER_UNIT
from services.loyalty.events import (
    SERVICE,
    GiftCardDeliveryRequested,
    GiftCardRedeemed,
    GiftCardSold,
    PointsAwarded,
    PointsExpired,
    PointsExpiryWarned,
    PointsForfeited,
    PointsReleased,
    PointsReserved,
    PointsReversed,
    PointsSpent,
    ReservationHeld,
    ReservationRefused,
    ReservationReleased,
    ReservationSettled,
    VisitRecorded,
    VoucherCodeRequested,
    VoucherIssued,
    VoucherRedeemed,
)


class Settings(ServiceSettings):
    service_name: str = SERVICE
    http_port: int = 8084
    expiry_check_s: float = Field(
        3600, gt=0, description="Seconds between two passes of the points expiry (idempotent within a day)"
    )
    reservation_check_s: float = Field(
        60, gt=0, description="Seconds between two releases of the reservations ordering never answered"
    )
    default_points_per_unit: int = Field(
        DEFAULT_POINTS_PER_UNIT,
        ge=0,
        le=MAX_POINTS_PER_UNIT,
        description="Points per currency unit of an order for tenants that set no earning rule",
    )


def build_spec(settings: Settings, clock: Clock = utc_now) -> ServiceSpec:
    """The service under these settings.

    Consumer handlers are given only a connection and an event, so the settings they need are
    bound here; the API takes the same values, so the two cannot disagree.
    """
    default = settings.default_points_per_unit
    return ServiceSpec(
        name=SERVICE,
        folder=Path(__file__).parent,
        events=EventCatalog(
            SERVICE,
            [
                PointsAwarded,
                PointsForfeited,
                PointsReversed,
                PointsSpent,
                VisitRecorded,
                VoucherIssued,
                VoucherRedeemed,
                VoucherCodeRequested,
                GiftCardSold,
                GiftCardDeliveryRequested,
                GiftCardRedeemed,
                PointsExpired,
                PointsExpiryWarned,
                PointsReserved,
                PointsReleased,
                ReservationHeld,
                ReservationRefused,
                ReservationSettled,
                ReservationReleased,
            ],
        ),
        handlers=consumers.handlers(default),
        endpoints=api.ENDPOINTS + counter_api.ENDPOINTS + vouchers_api.ENDPOINTS + giftcards_api.ENDPOINTS,
        api=api.configure(default, settings),
        workers=[
            functools.partial(expiry.expiry_worker, interval_s=settings.expiry_check_s, clock=clock),
            functools.partial(
                reservations.timeout_worker, interval_s=settings.reservation_check_s, clock=clock
            ),
        ],
        clock=clock,
    )
