"""Loyalty's pure rules: what a refusal says, and when an account is closed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.loyalty.domain import Account, EarningRule, points_for_order

pytestmark = pytest.mark.fast

CLOSED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_negative_total_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"^an order total cannot be negative: -1$"):
        points_for_order(-1, 1)


def test_a_negative_rate_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"^a rule cannot take points away: -2 points per unit$"):
        points_for_order(100, -2)


def test_an_account_is_open_until_it_is_closed() -> None:
    assert Account(account_id="member-1", balance=120).closed is False
    closed = Account(account_id="member-1", balance=0, closed_at=CLOSED_AT)
    assert closed.closed is True and closed.closed_at == CLOSED_AT


def test_the_service_default_rule_has_no_update_time() -> None:
    assert EarningRule(points_per_unit=1).updated_at is None
