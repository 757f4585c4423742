"""Paying an order with loyalty on the fast tier: the quote applies points and a gift card's amount,
its confirmation gives the code and the gift card's PIN; the order is pending until loyalty answers
(its answers are delivered here as loyalty would publish them), then enters its life, is refused, or
gives back what loyalty held when it is cancelled; duplicates and late answers change nothing; the
admin sees the sagas waiting on loyalty, stuck ones flagged."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from libs.common.events import Envelope
from libs.devstack.payments import FakePaymentProvider
from services.ordering import saga
from services.ordering.tests.conftest import Ordering
from services.ordering.tests.test_approval import validator, with_organisations
from services.ordering.tests.test_balance import balance_of, balance_shop, top_up  # noqa: F401 - a fixture
from services.ordering.tests.test_checkout import FRIDAY, shop  # noqa: F401 - a fixture
from tests.contracts.examples import example_event

pytestmark = pytest.mark.fast


@pytest.fixture
async def org(ordering: Ordering) -> Ordering:
    return await with_organisations(ordering)


async def _catalog(ordering: Ordering) -> None:
    await ordering.publish(ordering.product(uuid.uuid4(), "CREME-01", 2500))  # 25.00, no VAT nor fee


async def _quote(ordering: Ordering, **loyalty: Any) -> dict[str, Any]:
    body = {"lines": [{"code": "CREME-01", "quantity": 2}], **loyalty}
    status, quote, _ = await ordering.call("POST", "/checkout/quotes", ordering.partner_a, body)
    assert status == 201, quote
    return dict(quote)


async def _confirm(ordering: Ordering, quote: dict[str, Any], **secrets: Any) -> tuple[int, Any]:
    path = f"/checkout/quotes/{quote['quote_id']}/confirm"
    status, order, _ = await ordering.call("POST", path, ordering.partner_a, secrets)
    return status, order


async def _sent(ordering: Ordering) -> list[dict[str, Any]]:
    rows = await ordering.db.fetch(
        "SELECT payload FROM outbox WHERE topic = 'internal.ordering.checkout.v1'"
        " AND convert_from(payload, 'UTF8')::jsonb ->> 'tenantid' = $1 ORDER BY id",
        ordering.tenant_a,
    )
    return [json.loads(row["payload"]) for row in rows]


async def _answer(ordering: Ordering, event_type: str, order_id: str, **data: Any) -> Envelope:
    event = example_event(event_type, ordering.tenant_a, subject=order_id, order_id=order_id, **data)
    await ordering.service.publish("internal.loyalty.reservation.v1", event)
    return event


async def _order(ordering: Ordering, order_id: str) -> dict[str, Any]:
    status, order, _ = await ordering.call("GET", f"/orders/{order_id}", ordering.partner_a)
    assert status == 200, order
    return dict(order)


async def _saga_state(ordering: Ordering, order_id: str) -> tuple[str, str | None]:
    row = await ordering.db.fetchrow(
        "SELECT state, waiting_for FROM checkout_sagas WHERE order_id = $1", uuid.UUID(order_id)
    )
    return row["state"], row["waiting_for"]


async def test_an_order_paid_with_points_a_code_and_a_gift_card_waits_for_loyalty_then_is_confirmed(
    ordering: Ordering,
) -> None:
    await _catalog(ordering)
    quote = await _quote(ordering, points=1000, gift_card_minor=2000)  # 10.00 in points, 20.00 on the card
    paid = quote["checkout"]["loyalty"]
    assert (paid["points_minor"], paid["gift_card_minor"], paid["due_minor"]) == (1000, 2000, 2000)

    status, order = await _confirm(
        ordering, quote, code="K7QM-2XRT-P4ZD-9WLB", gift_card={"number": "4839201756482913", "pin": "482913"}
    )

    assert status == 201 and order["status"] == "pending", order
    [submitted] = await _sent(ordering)
    assert submitted["type"] == "ordering.checkout.submitted" and submitted["subject"] == order["order_id"]
    assert [item["kind"] for item in submitted["data"]["items"]] == ["points", "code", "gift_card"]
    assert submitted["data"]["settle"] is True  # no approval policy: loyalty settles as it holds
    assert await ordering.published() == []  # not announced before loyalty holds its items
    code = {"title": "10 % off", "kind": "discount", "percent_bp": 1000}
    held = await _answer(
        ordering,
        "loyalty.reservation.held",
        order["order_id"],
        points=1000,
        gift_card_minor=2000,
        code=code,
        settled=True,
    )
    await ordering.service.publish("internal.loyalty.reservation.v1", held)  # the same answer twice
    await _answer(ordering, "loyalty.reservation.settled", order["order_id"])  # a duplicate's answer

    confirmed = await _order(ordering, order["order_id"])
    assert confirmed["status"] == "confirmed"
    assert confirmed["checkout"]["loyalty"]["code_minor"] == 500  # 10 % of 50.00
    assert confirmed["checkout"]["loyalty"]["due_minor"] == 2000 - 500
    assert [e["type"] for e in await _sent(ordering)] == ["ordering.checkout.submitted"]  # nothing to confirm
    assert len(await ordering.published("ordering.order.confirmed")) == 1
    assert await _saga_state(ordering, order["order_id"]) == ("settled", None)

    # Cancelled, the order gives back what loyalty paid, once.
    path = f"/orders/{order['order_id']}/cancel"
    status, _, _ = await ordering.call("POST", path, ordering.partner_a, {"reason": "changed my mind"})
    assert status == 200
    assert (await _sent(ordering))[-1]["type"] == "ordering.checkout.released"
    await _answer(ordering, "loyalty.reservation.released", order["order_id"], by_timeout=False)
    assert await _saga_state(ordering, order["order_id"]) == ("released", None)
    assert len(await _sent(ordering)) == 2


async def test_an_order_held_without_settling_is_confirmed_then_settled_by_its_own_message(
    ordering: Ordering,
) -> None:
    """Loyalty that holds without settling (it did not read `settle`, an earlier version) gets the
    confirmation as its own message."""
    await _catalog(ordering)
    status, order = await _confirm(ordering, await _quote(ordering, points=1000))
    assert status == 201

    await _answer(
        ordering, "loyalty.reservation.held", order["order_id"], points=1000, gift_card_minor=0, code=None
    )

    assert (await _order(ordering, order["order_id"]))["status"] == "confirmed"
    assert (await _sent(ordering))[-1]["type"] == "ordering.checkout.confirmed"
    assert await _saga_state(ordering, order["order_id"]) == ("settling", "settlement")
    await _answer(ordering, "loyalty.reservation.settled", order["order_id"])
    assert await _saga_state(ordering, order["order_id"]) == ("settled", None)


async def test_a_refusal_by_loyalty_refuses_the_pending_order_saying_why(ordering: Ordering) -> None:
    await _catalog(ordering)
    quote = await _quote(ordering, gift_card_minor=1000)
    status, order = await _confirm(ordering, quote, gift_card={"number": "4839201756482913", "pin": "000000"})
    assert status == 201

    await _answer(
        ordering, "loyalty.reservation.refused", order["order_id"], reasons={"gift_card": "wrong-pin"}
    )
    await _answer(  # a late, contradicting answer changes nothing
        ordering, "loyalty.reservation.held", order["order_id"], points=0, gift_card_minor=1000, code=None
    )

    refused = await _order(ordering, order["order_id"])
    assert refused["status"] == "refused"
    assert "gift_card: wrong-pin" in refused["history"][-1]["reason"]
    assert await _saga_state(ordering, order["order_id"]) == ("refused", None)
    # Announced: submitted (it never was while pending), then refused for its payment, with the reason.
    told = await ordering.published("ordering.order.submitted", "ordering.order.payment_refused")
    assert [envelope["type"] for _, envelope in told] == [
        "ordering.order.submitted",
        "ordering.order.payment_refused",
    ]
    assert "gift_card: wrong-pin" in told[1][1]["data"]["reason"]
    assert told[1][1]["data"]["version"] == 2


async def test_a_release_by_loyaltys_timeout_refuses_the_order_and_the_admin_sees_stuck_sagas(
    ordering: Ordering,
) -> None:
    await _catalog(ordering)
    orders = []
    for _ in range(2):
        status, order = await _confirm(ordering, await _quote(ordering, points=500))
        assert status == 201
        orders.append(order["order_id"])

    status, waiting, _ = await ordering.call("GET", "/checkout/sagas", ordering.admin_a)
    assert status == 200 and {s["order_id"] for s in waiting} == set(orders)
    assert all(s["waiting_for"] == "reservation" and not s["stuck"] for s in waiting)
    assert (await ordering.call("GET", "/checkout/sagas?stuck=true", ordering.admin_a))[1] == []
    assert (await ordering.call("GET", "/checkout/sagas", ordering.partner_a))[0] == 403
    assert (await ordering.call("GET", "/checkout/sagas", ordering.admin_b))[1] == []
    ordering.clock.stopped_at = datetime.now(UTC) + timedelta(minutes=5)
    stuck = (await ordering.call("GET", "/checkout/sagas?stuck=true", ordering.admin_a))[1]
    assert len(stuck) == 2 and all(s["stuck"] for s in stuck)

    await _answer(ordering, "loyalty.reservation.released", orders[0], by_timeout=True)
    assert (await _order(ordering, orders[0]))["status"] == "refused"
    assert (await _order(ordering, orders[1]))["status"] == "pending"


async def test_quotes_refuse_too_many_points_and_a_confirmation_without_the_gift_card(
    ordering: Ordering,
) -> None:
    await _catalog(ordering)
    body = {"lines": [{"code": "CREME-01", "quantity": 2}], "points": 4000}  # 40.00 of 50.00: over half
    status, problem, _ = await ordering.call("POST", "/checkout/quotes", ordering.partner_a, body)
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["points"], problem
    body = {"lines": [{"code": "CREME-01", "quantity": 2}], "points": 1000, "gift_card_minor": 5500}
    status, problem, _ = await ordering.call("POST", "/checkout/quotes", ordering.partner_a, body)
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["gift_card_minor"], problem

    quote = await _quote(ordering, gift_card_minor=1000)
    status, problem = await _confirm(ordering, quote)
    assert status == 422 and problem["errors"][0]["field"] == "gift_card"
    plain = await _quote(ordering)
    status, problem = await _confirm(ordering, plain, gift_card={"number": "4839201756482913", "pin": "1234"})
    assert status == 422 and problem["errors"][0]["field"] == "gift_card"
    assert await _sent(ordering) == []


async def test_an_order_held_for_approval_keeps_what_loyalty_paid_when_modified_then_settles_when_approved(
    org: Ordering,
) -> None:
    status, order = await org.submit(org.partner_a, [{"code": "MUG", "quantity": 4}], points=1000)  # 80.00
    assert status == 201 and order["status"] == "pending"
    assert (await _sent(org))[-1]["data"]["settle"] is False  # it awaits approval: loyalty only holds
    code = {"title": "5 % off", "kind": "discount", "percent_bp": 500}
    await _answer(
        org, "loyalty.reservation.held", order["order_id"], points=1000, gift_card_minor=0, code=code
    )
    waiting = await _order(org, order["order_id"])
    assert waiting["status"] == "awaiting_approval"
    assert (await _sent(org))[-1]["type"] == "ordering.checkout.acknowledged"
    assert await _saga_state(org, order["order_id"]) == ("held", None)

    path = f"/orders/{order['order_id']}"
    body = {"version": waiting["version"], "lines": [{"code": "MUG", "quantity": 3}]}  # 60.00 now
    status, changed, _ = await org.call("POST", f"{path}/modify", validator(org), body)
    assert status == 200, changed
    paid = changed["checkout"]["loyalty"]
    assert (paid["points_minor"], paid["code_minor"], paid["due_minor"]) == (1000, 300, 6000 - 1000 - 300)
    status, _, _ = await org.call("POST", f"{path}/approve", validator(org), {"version": changed["version"]})
    assert status == 200
    assert (await _sent(org))[-1]["type"] == "ordering.checkout.confirmed"
    assert await _saga_state(org, order["order_id"]) == ("settling", "settlement")


async def test_an_order_refused_by_its_validator_releases_what_loyalty_held(org: Ordering) -> None:
    status, order = await org.submit(org.partner_a, [{"code": "MUG", "quantity": 4}], points=500)
    assert status == 201
    await _answer(
        org, "loyalty.reservation.held", order["order_id"], points=500, gift_card_minor=0, code=None
    )
    path = f"/orders/{order['order_id']}/refuse"
    status, _, _ = await org.call("POST", path, validator(org), {"version": 2, "reason": "Over budget"})
    assert status == 200
    released = (await _sent(org))[-1]
    assert released["type"] == "ordering.checkout.released" and released["data"]["reason"] == "refused"
    assert await _saga_state(org, order["order_id"]) == ("releasing", "release")


Step = str
STEPS = st.lists(
    st.sampled_from(["held", "held_settled", "refused", "settled", "released", "cancel", "expire"]),
    max_size=6,
)


def expected(steps: list[Step]) -> tuple[str, str]:
    """(order status, saga state) a sequence of loyalty's answers and the buyer's acts should leave."""
    status, saga = "pending", "reserving"
    for step in steps:
        if step == "held" and saga == "reserving" and status == "pending":
            status, saga = "confirmed", "settling"
        elif step == "held_settled" and saga == "reserving" and status == "pending":
            status, saga = "confirmed", "settled"
        elif step == "refused" and saga == "reserving":
            saga, status = "refused", "refused" if status == "pending" else status
        elif step == "settled" and saga == "settling":
            saga = "settled"
        elif step == "released" and saga not in ("released", "refused"):
            if saga != "releasing":  # not asked: loyalty's timeout
                status = {"pending": "refused", "confirmed": "cancelled"}.get(status, status)
            saga = "released"
        elif step == "cancel" and status in ("pending", "confirmed"):
            status = "cancelled"
            saga = saga if saga in ("releasing", "released", "refused") else "releasing"
        elif step == "expire" and saga == "reserving" and status == "pending":
            status, saga = "refused", "releasing"
    return status, saga


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(STEPS)
@example(["held", "released", "settled"])  # loyalty's timeout after confirmation: cancelled, never free
@example(["cancel", "held", "released"])  # a late hold after the buyer cancelled changes nothing
@example(["expire", "held", "refused", "released"])
@example(["held_settled", "released", "cancel"])  # settled at once, then loyalty's release: cancelled
@example(["held_settled", "cancel", "released"])  # settled at once, cancelled: released once
async def test_any_order_of_answers_and_acts_leaves_the_order_and_its_saga_agreeing(
    ordering: Ordering, db: asyncpg.Connection, steps: list[Step]
) -> None:
    if not await db.fetchval("SELECT count(*) FROM products WHERE tenant_id = $1", ordering.tenant_a):
        await _catalog(ordering)  # once: the examples share the test's tenant
    lines = [{"code": "CREME-01", "quantity": 2}]
    status, order = await ordering.submit(ordering.partner_a, lines, points=100)
    assert status == 201
    order_id = order["order_id"]
    for step in steps:
        if step == "cancel":
            await ordering.call("POST", f"/orders/{order_id}/cancel", ordering.partner_a, {})
        elif step == "expire":
            async with db.transaction():
                await saga.expire_pending(db, datetime.now(UTC) + timedelta(hours=2), timedelta(hours=1))
        else:
            answers: dict[str, dict[str, Any]] = {
                "held": {"points": 100, "gift_card_minor": 0, "code": None},
                "held_settled": {"points": 100, "gift_card_minor": 0, "code": None, "settled": True},
                "refused": {"reasons": {"points": "insufficient-points"}},
                "released": {"by_timeout": True},
            }
            data = answers.get(step, {})
            await _answer(ordering, f"loyalty.reservation.{step.removesuffix('_settled')}", order_id, **data)

    assert (
        (await _order(ordering, order_id))["status"],
        (await _saga_state(ordering, order_id))[0],
    ) == expected(steps)
    sent = [e["type"] for e in await _sent(ordering) if e["subject"] == order_id]
    assert sent.count("ordering.checkout.confirmed") <= 1 and sent.count("ordering.checkout.released") <= 1
    entered = any(key == order_id for key, _ in await ordering.published("ordering.order.confirmed"))
    first_hold = next((i for i, step in enumerate(steps) if step.startswith("held")), None)
    assert entered == (first_hold is not None and expected(steps[: first_hold + 1])[0] == "confirmed")


async def test_sponsor_points_pay_with_purchase_points_within_the_same_share(ordering: Ordering) -> None:
    await _catalog(ordering)
    body = {"lines": [{"code": "CREME-01", "quantity": 2}], "points": 1500, "sponsor_points": 1500}
    status, problem, _ = await ordering.call("POST", "/checkout/quotes", ordering.partner_a, body)
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["points"]  # 30.00 of 50.00
    quote = await _quote(ordering, points=1000, sponsor_points=1000)
    paid = quote["checkout"]["loyalty"]
    assert (paid["sponsor_points_minor"], paid["due_minor"]) == (1000, 5000 - 2000)

    status, order = await _confirm(ordering, quote)

    assert status == 201 and order["status"] == "pending"
    [submitted] = await _sent(ordering)
    assert submitted["data"]["items"] == [
        {"kind": "points", "points": 1000},
        {"kind": "sponsor_points", "points": 1000},
    ]


async def _pending_from_balance(
    ordering: Ordering, provider: FakePaymentProvider, top_up_minor: int
) -> dict[str, Any]:
    """A buyer who topped up her balance with `top_up_minor` orders 3 creams paid from it and with
    500 points: the order, pending while loyalty answers."""
    await top_up(ordering, provider, ordering.partner_a, top_up_minor)
    status, order = await ordering.submit(
        ordering.partner_a,
        [{"code": "CREAM", "quantity": 3}],
        key=str(uuid.uuid4()),
        payment_mode="account_balance",
        delivery_date=FRIDAY.isoformat(),
        points=500,
    )
    assert status == 201 and order["status"] == "pending", order
    return dict(order)


async def test_a_confirmed_order_whose_items_loyaltys_timeout_released_is_cancelled_and_refunded(
    balance_shop: Ordering,  # noqa: F811 - the fixture imported above
    payment_provider: FakePaymentProvider,
) -> None:
    """Never free: loyalty gave the points back on its own (it never read the confirmation), so the
    order is cancelled, what the balance paid goes back in full, and the brand's ERP is told."""
    order = await _pending_from_balance(balance_shop, payment_provider, 10_000)
    await _answer(
        balance_shop, "loyalty.reservation.held", order["order_id"], points=500, gift_card_minor=0, code=None
    )
    due = order["checkout"]["loyalty"]["due_minor"]
    assert (await balance_of(balance_shop, balance_shop.partner_a))["balance_minor"] == 10_000 - due

    await _answer(balance_shop, "loyalty.reservation.released", order["order_id"], by_timeout=True)

    assert (await _order(balance_shop, order["order_id"]))["status"] == "cancelled"
    assert (await balance_of(balance_shop, balance_shop.partner_a))["balance_minor"] == 10_000
    [(_, told)] = await balance_shop.published("ordering.order.payment_refused")
    assert told["data"]["refund"] == {"refunded_minor": due, "costs_minor": 0, "to": "account_balance"}
    assert told["data"]["version"] == 3  # pending, confirmed, cancelled


async def test_an_order_its_balance_cannot_pay_is_refused_and_gives_back_what_loyalty_settled(
    balance_shop: Ordering,  # noqa: F811 - the fixture imported above
    payment_provider: FakePaymentProvider,
) -> None:
    """Loyalty settled the points as it held them (no approval), but the balance cannot pay the
    rest: the order is refused, and loyalty is asked to give the settled points back."""
    order = await _pending_from_balance(balance_shop, payment_provider, 100)  # 1.00: too little
    assert (await _sent(balance_shop))[-1]["data"]["settle"] is True
    held = {"points": 500, "gift_card_minor": 0, "code": None, "settled": True}

    await _answer(balance_shop, "loyalty.reservation.held", order["order_id"], **held)

    refused = await _order(balance_shop, order["order_id"])
    assert refused["status"] == "refused" and "payment refused" in refused["history"][-1]["reason"]
    released = (await _sent(balance_shop))[-1]
    assert (
        released["type"] == "ordering.checkout.released" and released["data"]["reason"] == "payment-refused"
    )
    assert await _saga_state(balance_shop, order["order_id"]) == ("releasing", "release")
    assert (await balance_of(balance_shop, balance_shop.partner_a))["balance_minor"] == 100  # untouched
    assert [e["type"] for _, e in await balance_shop.published("ordering.order.payment_refused")] == [
        "ordering.order.payment_refused"
    ]
