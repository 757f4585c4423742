"""The earning rule as a pure function, and the settings' defaults."""

from __future__ import annotations

import pytest

from services.loyalty.app import Settings, build_spec
from services.loyalty.domain import forfeit_points, points_for_order

SPEC = build_spec(Settings())

pytestmark = pytest.mark.fast


def test_points_are_n_per_currency_unit_of_the_total() -> None:
    assert points_for_order(1000, 1) == 10
    assert points_for_order(1250, 2) == 25
    assert points_for_order(100, 10) == 10


def test_points_round_down_to_whole_points() -> None:
    assert points_for_order(1299, 1) == 12
    assert points_for_order(199, 1) == 1
    assert points_for_order(149, 3) == 4  # 4.47


def test_small_totals_a_zero_rate_or_an_empty_order_earn_nothing() -> None:
    assert points_for_order(99, 1) == 0
    assert points_for_order(50_000, 0) == 0
    assert points_for_order(0, 5) == 0


def test_large_totals_are_counted_exactly() -> None:
    # A float would be off by a few points here.
    assert points_for_order(9_007_199_254_740_993, 1) == 90_071_992_547_409


@pytest.mark.parametrize(("total_minor", "points_per_unit"), [(-1, 1), (100, -1)])
def test_negative_totals_or_rates_are_refused(total_minor: int, points_per_unit: int) -> None:
    with pytest.raises(ValueError):
        points_for_order(total_minor, points_per_unit)


def test_forfeiting_brings_any_balance_to_zero() -> None:
    assert forfeit_points(120) == -120
    assert forfeit_points(0) == 0
    assert forfeit_points(-15) == 15  # a debt is written off the same way
    for balance in (120, 0, -15):
        assert balance + forfeit_points(balance) == 0


def test_by_default_members_earn_one_point_per_unit_on_port_8084() -> None:
    settings = Settings.model_construct()
    assert (settings.service_name, settings.http_port, settings.default_points_per_unit) == (
        "loyalty",
        8084,
        1,
    )
    assert SPEC.topics == [
        "internal.catalog.category.v1.dlq",
        "internal.catalog.product.v1.dlq",
        "internal.identity.account.v1.dlq",
        "internal.identity.facts.v1.dlq",
        "internal.identity.organisation.v1.dlq",
        "internal.identity.tenant.v1.dlq",
        "internal.loyalty.reservation.v1",
        "internal.notify.requests.v1",
        "internal.ordering.checkout.v1.dlq",
        "internal.ordering.order.v1.dlq",
        "internal.ordering.return.v1.dlq",
        "loyalty.giftcard.v1",
        "loyalty.points.v1",
        "loyalty.visit.v1",
        "loyalty.voucher.v1",
    ]
    assert sorted(SPEC.handlers) == [
        "catalog.category.v1",
        "catalog.product.v1",
        "identity.account.v1",
        "identity.organisation.v1",
        "identity.tenant.v1",
        "internal.identity.facts.v1",
        "internal.ordering.checkout.v1",
        "ordering.order.v1",
        "ordering.return.v1",
    ]


def test_the_default_rate_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_POINTS_PER_UNIT", "3")
    assert Settings().default_points_per_unit == 3
    monkeypatch.setenv("DEFAULT_POINTS_PER_UNIT", "-1")
    with pytest.raises(ValueError):
        Settings()
