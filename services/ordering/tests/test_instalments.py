"""Paying in instalments on the fast tier: the schedule recorded at confirmation, the first paid by
the buyer on the provider's page (her card saved), the next ones charged by the worker when due,
failed charges tried again then flagged for the admin, and a cancelled order's paid instalments
refunded to the card less the costs."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from libs.common.payments import PAYMENTS
from libs.devstack.payments import PAYS, PAYS_ONCE, FakePaymentProvider
from libs.devstack.testing import UNREACHABLE
from services.ordering import instalments
from services.ordering.instalments import Rules, split
from services.ordering.tests.conftest import Ordering
from services.ordering.tests.test_balance import notices_of, pay, post_notice
from services.ordering.tests.test_checkout import FRIDAY, WEDNESDAY, shop  # noqa: F401 - a fixture

pytestmark = pytest.mark.fast

RULES = Rules(attempts=3, retry_after=timedelta(days=1))


def test_the_total_is_split_in_parts_a_cent_apart_at_most() -> None:
    assert split(4800, 4) == [1200, 1200, 1200, 1200]
    assert split(4803, 4) == [1201, 1201, 1201, 1200]
    assert split(3, 4) == [1, 1, 1]


@pytest.fixture
async def by_parts(shop: Ordering) -> Ordering:  # noqa: F811 - the fixture imported above
    """The checkout shop offering instalments: four, a week apart; cancellation costs of 5.00."""
    body = {
        "payment_modes": ["instalments", "cash_on_delivery"],
        "instalments": 4,
        "instalment_interval_days": 7,
        "cancellation_costs_minor": 500,
    }
    status, answer, _ = await shop.call("PUT", "/checkout/settings", shop.admin_a, body)
    assert status == 200, answer
    return shop


async def order_in_parts(ordering: Ordering) -> dict[str, Any]:
    """CREAM x3 (71.96 with VAT), in instalments."""
    status, placed = await ordering.submit(
        ordering.partner_a,
        [{"code": "CREAM", "quantity": 3}],
        payment_mode="instalments",
        delivery_date=FRIDAY.isoformat(),
    )
    assert status == 201, placed
    return dict(placed)


async def schedule(ordering: Ordering, order_id: str) -> list[dict[str, Any]]:
    status, parts, _ = await ordering.call("GET", f"/orders/{order_id}/instalments", ordering.partner_a)
    assert status == 200, parts
    return list(parts)


async def pay_first(ordering: Ordering, provider: FakePaymentProvider, order_id: str, card: str) -> None:
    status, started, _ = await ordering.call(
        "POST", f"/orders/{order_id}/instalments/pay", ordering.partner_a, {}, key=str(uuid.uuid4())
    )
    assert status == 201, started
    await pay(provider, started["redirect_url"], card)
    [(body, signature)] = notices_of(provider, started["payment"]["payment_id"])
    assert (await post_notice(ordering, body, signature))[0] == 200


async def charge_due(ordering: Ordering, provider: FakePaymentProvider, days: float) -> None:
    """The worker's round `days` after the order, the provider's notices delivered."""
    ordering.clock.stopped_at = WEDNESDAY + timedelta(days=days)
    before = len(provider.sent)
    app_provider = ordering.service.app[PAYMENTS]
    await instalments.charge_due(ordering.db, app_provider, RULES, UNREACHABLE, ordering.clock())
    for sent in provider.sent[before:]:
        assert (await post_notice(ordering, sent.body, sent.signature))[0] == 200


async def test_the_schedule_is_recorded_at_confirmation_and_each_part_paid_in_turn(
    by_parts: Ordering, payment_provider: FakePaymentProvider
) -> None:
    placed = await order_in_parts(by_parts)
    parts = await schedule(by_parts, placed["order_id"])
    assert [(p["number"], p["amount_minor"], p["status"]) for p in parts] == [
        (1, 1799, "scheduled"),
        (2, 1799, "scheduled"),
        (3, 1799, "scheduled"),
        (4, 1799, "scheduled"),
    ]  # 71.96 in four
    assert parts[1]["due_at"] == (WEDNESDAY + timedelta(days=7)).isoformat().replace("+00:00", "Z")

    await pay_first(by_parts, payment_provider, placed["order_id"], PAYS)
    await charge_due(by_parts, payment_provider, days=3)  # nothing due yet
    assert [p["status"] for p in await schedule(by_parts, placed["order_id"])] == [
        "paid",
        "scheduled",
        "scheduled",
        "scheduled",
    ]
    await charge_due(by_parts, payment_provider, days=14)  # the second and the third are due
    assert [p["status"] for p in await schedule(by_parts, placed["order_id"])] == [
        "paid",
        "paid",
        "paid",
        "scheduled",
    ]
    status, problem, _ = await by_parts.call(
        "POST", f"/orders/{placed['order_id']}/instalments/pay", by_parts.partner_a, {}
    )
    assert (status, problem["type"]) == (409, "urn:comptoir:problem:nothing-to-pay")  # the card pays the rest


async def test_a_declined_charge_is_tried_again_then_flagged_for_the_admin(
    by_parts: Ordering, payment_provider: FakePaymentProvider
) -> None:
    placed = await order_in_parts(by_parts)
    await pay_first(by_parts, payment_provider, placed["order_id"], PAYS_ONCE)

    await charge_due(by_parts, payment_provider, days=7)
    second = (await schedule(by_parts, placed["order_id"]))[1]
    assert (second["status"], second["attempts"], second["failure_reason"]) == (
        "scheduled",
        1,
        "card declined",
    )
    await charge_due(by_parts, payment_provider, days=8)
    await charge_due(by_parts, payment_provider, days=9)
    second = (await schedule(by_parts, placed["order_id"]))[1]
    assert (second["status"], second["attempts"]) == ("flagged", 3)

    status, flagged, _ = await by_parts.call("GET", "/instalments?status=flagged", by_parts.admin_a)
    assert (status, [(p["order_id"], p["number"]) for p in flagged]) == (200, [(placed["order_id"], 2)])
    assert (await by_parts.call("GET", "/instalments", by_parts.partner_a))[0] == 403

    # Told by the admin, she pays it on the provider's page with another card.
    await pay_first(by_parts, payment_provider, placed["order_id"], PAYS)
    assert [p["status"] for p in await schedule(by_parts, placed["order_id"])][:2] == ["paid", "paid"]


async def test_a_cancelled_order_is_refunded_to_the_card_less_the_costs(
    by_parts: Ordering, payment_provider: FakePaymentProvider
) -> None:
    placed = await order_in_parts(by_parts)
    await pay_first(by_parts, payment_provider, placed["order_id"], PAYS)

    status, cancelled, _ = await by_parts.call(
        "POST", f"/orders/{placed['order_id']}/cancel", by_parts.partner_a, {}, key=str(uuid.uuid4())
    )

    assert (status, cancelled["status"]) == (200, "cancelled")
    assert [p["status"] for p in await schedule(by_parts, placed["order_id"])] == ["paid"] + ["cancelled"] * 3
    [(_, event)] = await by_parts.published("ordering.order.cancelled")
    assert event["data"]["refund"] == {"refunded_minor": 1799 - 500, "costs_minor": 500, "to": "card"}
    refunded = [p for p in payment_provider.payments.values() if p.refunded_minor]
    assert [p.refunded_minor for p in refunded][-1] == 1299
    await charge_due(by_parts, payment_provider, days=30)  # nothing is charged for a cancelled order
    assert [p["status"] for p in await schedule(by_parts, placed["order_id"])] == ["paid"] + ["cancelled"] * 3


class CrashingProvider:
    """The process dies as it asks the provider: the charge is recorded, never sent."""

    async def charge(self, charge: object) -> str:
        raise RuntimeError("killed")


async def test_a_charge_cut_off_by_a_crash_is_sent_again_and_charged_once(
    by_parts: Ordering, payment_provider: FakePaymentProvider
) -> None:
    placed = await order_in_parts(by_parts)
    await pay_first(by_parts, payment_provider, placed["order_id"], PAYS)
    by_parts.clock.stopped_at = WEDNESDAY + timedelta(days=7)
    with pytest.raises(RuntimeError):
        await instalments.charge_due(by_parts.db, CrashingProvider(), RULES, UNREACHABLE, by_parts.clock())  # type: ignore[arg-type]
    assert (await schedule(by_parts, placed["order_id"]))[1]["status"] == "charging"

    await charge_due(by_parts, payment_provider, days=7)  # too soon to call it stalled: nothing sent
    assert (await schedule(by_parts, placed["order_id"]))[1]["status"] == "charging"
    ordering_payment = await by_parts.db.fetchval(
        "SELECT payment_id::text FROM payments WHERE order_id = $1 AND instalment = 2",
        uuid.UUID(placed["order_id"]),
    )
    six_minutes_later = 7 + 6 / (24 * 60)
    await charge_due(by_parts, payment_provider, days=six_minutes_later)
    await charge_due(by_parts, payment_provider, days=six_minutes_later)
    charged = [p for p in payment_provider.payments.values() if p.reference == ordering_payment]
    assert len(charged) == 1  # sent again, charged once
    assert [p["status"] for p in await schedule(by_parts, placed["order_id"])][:2] == ["paid", "paid"]
