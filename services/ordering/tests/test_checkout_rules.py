"""Checkout's pure rules: VAT per rate and its rounding, delivery days, the fee, the eligible amount."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.ordering.checkout import (
    CheckoutSettings,
    check_delivery_date,
    earliest_delivery,
    quote_totals,
    vat_breakdown,
    vat_of,
)
from services.ordering.domain import PricedLine
from services.ordering.lifecycle import TransitionForbidden, next_status

pytestmark = pytest.mark.fast
PARIS = ZoneInfo("Europe/Paris")


def line(total: int, rate: int, *, instead_of_fee: bool = False) -> PricedLine:
    return PricedLine(
        product_id=uuid.uuid4(),
        code="X",
        name="X",
        quantity=1,
        unit_price_minor=total,
        line_total_minor=total,
        vat_rate_bp=rate,
        instead_of_fee=instead_of_fee,
    )


@pytest.mark.parametrize(
    ("base", "rate", "vat"),
    [
        (1, 2000, 0),  # 0.2 of a cent: down
        (3, 2000, 1),  # 0.6: up
        (25, 2000, 5),  # exact
        (10, 550, 1),  # 0.55: up
        (9, 550, 0),  # 0.495: down
        (1999, 2000, 400),  # 399.8: up
        (2, 2500, 1),  # exactly half a cent: half up
        (0, 2000, 0),
        (10**11, 2000, 2 * 10**10),  # the largest order total, exact in integers
    ],
)
def test_vat_is_rounded_half_up_to_the_cent(base: int, rate: int, vat: int) -> None:
    assert vat_of(base, rate) == vat


def test_vat_is_computed_once_per_rate_on_the_sum_not_per_line() -> None:
    # Three lines of 0.03 at 20 %: per line 0.006 → 0.01 each (0.03); on the sum 0.09 → 0.018 → 0.02.
    [twenty, reduced] = vat_breakdown([(3, 2000), (3, 2000), (3, 2000), (100, 550)])
    assert (twenty.rate_bp, twenty.base_minor, twenty.vat_minor) == (2000, 9, 2)
    assert (reduced.rate_bp, reduced.base_minor, reduced.vat_minor) == (550, 100, 6)


def test_totals_add_the_fee_below_the_threshold_with_its_vat() -> None:
    settings = CheckoutSettings(delivery_fee_minor=690, free_delivery_from_minor=5000)
    totals = quote_totals([line(1999, 2000), line(1001, 550)], settings, fee_waived=False)
    assert totals.goods_minor == 3000
    assert totals.delivery_fee_minor == 690
    assert [(v.rate_bp, v.base_minor, v.vat_minor) for v in totals.vat] == [
        (2000, 2689, 538),
        (550, 1001, 55),
    ]
    assert (totals.total_excl_vat_minor, totals.total_vat_minor, totals.total_incl_vat_minor) == (
        3690,
        593,
        4283,
    )
    assert totals.eligible_minor == 3000  # no fee, no VAT (the tenant's setting)

    free = quote_totals([line(5000, 2000)], settings, fee_waived=False)
    assert (free.delivery_fee_minor, free.total_incl_vat_minor) == (0, 6000)


def test_the_eligible_amount_includes_vat_when_the_tenant_says_so_and_never_the_fee() -> None:
    settings = CheckoutSettings(delivery_fee_minor=500, eligible_includes_vat=True)
    totals = quote_totals([line(1000, 2000), line(500, 2000, instead_of_fee=True)], settings, fee_waived=True)
    assert totals.delivery_fee_minor == 0  # the fee bought the product instead
    assert totals.goods_minor == 1000
    assert totals.total_excl_vat_minor == 1500
    assert totals.eligible_minor == 1200  # the goods with their VAT, not the product the fee bought


def test_the_earliest_delivery_counts_working_days_in_the_tenants_zone() -> None:
    # Friday 2026-03-06 23:30 in Paris is already Friday there, Saturday 00:30 would not be.
    friday_evening = datetime(2026, 3, 6, 22, 30, tzinfo=UTC)
    assert earliest_delivery(friday_evening, PARIS, 2, frozenset()) == date(2026, 3, 10)  # Mon, Tue
    saturday_in_paris = datetime(2026, 3, 6, 23, 30, tzinfo=UTC)
    assert earliest_delivery(saturday_in_paris, PARIS, 2, frozenset()) == date(2026, 3, 10)
    closed = frozenset({date(2026, 3, 9)})
    assert earliest_delivery(friday_evening, PARIS, 2, closed) == date(2026, 3, 11)
    # No lead time: today if it is a working day, else the next one.
    assert earliest_delivery(friday_evening, PARIS, 0, frozenset()) == date(2026, 3, 6)
    assert earliest_delivery(saturday_in_paris, PARIS, 0, frozenset()) == date(2026, 3, 9)


def test_a_requested_day_must_be_a_working_day_not_before_the_earliest() -> None:
    earliest, closed = date(2026, 3, 10), frozenset({date(2026, 3, 12)})
    assert check_delivery_date(date(2026, 3, 11), earliest, closed) is None
    too_early = check_delivery_date(date(2026, 3, 9), earliest, closed)
    assert too_early is not None and too_early.type == "too-early"
    for day in (date(2026, 3, 12), date(2026, 3, 14)):  # a closed day, a Saturday
        problem = check_delivery_date(day, earliest, closed)
        assert problem is not None and (problem.field, problem.type) == ("delivery_date", "closed-day")


def test_the_state_machine_names_the_state_that_forbids_an_action() -> None:
    assert next_status(None, "confirm") == "confirmed"
    assert next_status(None, "hold") == "awaiting_approval"
    assert next_status("awaiting_approval", "approve") == "confirmed"
    assert next_status("confirmed", "ship") == "shipped"
    assert next_status("shipped", "deliver") == "delivered"
    with pytest.raises(TransitionForbidden) as refused:
        next_status("shipped", "cancel")
    assert refused.value.extensions == {"order_status": "shipped"}
    assert refused.value.kind == "order-state-conflict"
    with pytest.raises(TransitionForbidden):
        next_status("refused", "approve")
