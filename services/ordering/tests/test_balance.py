"""The account balance on the fast tier: top-ups through the fake payment provider and its signed
notices (twice, late, forged, for no payment), orders paid from the balance, and their refunds when
refused or cancelled (less the tenant's cancellation costs once confirmed). The race of two spends
needs connections of their own: test_balance_race.py."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import aiohttp
import pytest

from libs.common.limits import MAX_BALANCE
from libs.common.payments import LOCAL_WEBHOOK_SECRET, SIGNATURE_HEADER, sign
from libs.devstack.payments import DECLINED, PAYS, FakePaymentProvider
from services.ordering.balance import cancellation_costs
from services.ordering.checkout import CheckoutSettings
from services.ordering.tests.conftest import Caller, Ordering
from services.ordering.tests.test_approval import member, organisation
from services.ordering.tests.test_checkout import FRIDAY, shop  # noqa: F401 - a fixture

pytestmark = pytest.mark.fast


async def pay(provider: FakePaymentProvider, redirect_url: str, card: str) -> None:
    """The buyer pays on the provider's page (as JSON: the page's form does the same)."""
    async with aiohttp.ClientSession() as http, http.post(redirect_url, json={"card": card}) as answer:
        assert answer.status == 200, await answer.text()


def notices_of(provider: FakePaymentProvider, payment_id: str) -> list[tuple[bytes, str]]:
    """(body, signature) of every notice the provider sent about our payment."""
    return [
        (sent.body, sent.signature)
        for sent in provider.sent
        if json.loads(sent.body)["reference"] == payment_id
    ]


async def post_notice(ordering: Ordering, body: bytes, signature: str | None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", **({SIGNATURE_HEADER: signature} if signature else {})}
    async with ordering.service.http.post(
        ordering.service.url + "/payments/notices", data=body, headers=headers
    ) as answer:
        return answer.status, await answer.json(content_type=None)


async def top_up(
    ordering: Ordering, provider: FakePaymentProvider, caller: Caller, amount: int, card: str = PAYS
) -> dict[str, Any]:
    """A top-up paid with `card`, its notice delivered: the payment as ordering then tells it."""
    status, started, _ = await ordering.call(
        "POST", "/balance/top-ups", caller, {"amount_minor": amount}, key=str(uuid.uuid4())
    )
    assert status == 201, started
    payment_id = started["payment"]["payment_id"]
    await pay(provider, started["redirect_url"], card)
    (body, signature), *_ = notices_of(provider, payment_id)
    status, _ = await post_notice(ordering, body, signature)
    assert status == 200
    status, payment, _ = await ordering.call("GET", f"/balance/top-ups/{payment_id}", caller)
    assert status == 200
    return dict(payment)


async def balance_of(ordering: Ordering, caller: Caller) -> dict[str, Any]:
    status, body, _ = await ordering.call("GET", "/balance", caller)
    assert status == 200, body
    return dict(body)


async def test_a_top_up_paid_at_the_provider_credits_the_balance_once(
    ordering: Ordering, payment_provider: FakePaymentProvider
) -> None:
    status, started, _ = await ordering.call(
        "POST", "/balance/top-ups", ordering.partner_a, {"amount_minor": 5000}, key=str(uuid.uuid4())
    )
    assert status == 201, started
    assert started["payment"]["status"] == "pending"
    assert started["redirect_url"].startswith(payment_provider.url + "/pay/")
    payment_id = started["payment"]["payment_id"]
    assert (await balance_of(ordering, ordering.partner_a))["balance_minor"] == 0

    await pay(payment_provider, started["redirect_url"], PAYS)
    [(body, signature)] = notices_of(payment_provider, payment_id)
    first, second = await post_notice(ordering, body, signature), await post_notice(ordering, body, signature)
    assert (first[0], first[1]["status"]) == (second[0], second[1]["status"]) == (200, "succeeded")

    held = await balance_of(ordering, ordering.partner_a)
    assert (held["balance_minor"], held["currency"]) == (5000, "EUR")
    [entry] = held["entries"]
    assert (entry["kind"], entry["amount_minor"], entry["balance_after_minor"]) == ("top_up", 5000, 5000)
    assert [p["status"] for p in held["top_ups"]] == ["succeeded"]
    credited = await ordering.db.fetch(
        "SELECT payload FROM outbox WHERE topic = 'ordering.balance.v1' AND key = $1", "partner-a1"
    )
    assert len(credited) == 1  # the notice came twice: one credit, one event
    data = json.loads(credited[0]["payload"])["data"]
    assert (data["kind"], data["amount_minor"], data["balance_minor"]) == ("top_up", 5000, 5000)


async def test_a_declined_card_fails_the_top_up_with_the_reason_and_credits_nothing(
    ordering: Ordering, payment_provider: FakePaymentProvider
) -> None:
    payment = await top_up(ordering, payment_provider, ordering.partner_a, 5000, DECLINED)

    assert (payment["status"], payment["failure_reason"]) == ("failed", "card declined")
    held = await balance_of(ordering, ordering.partner_a)
    assert (held["balance_minor"], held["entries"]) == (0, [])
    assert [p["status"] for p in held["top_ups"]] == ["failed"]

    again = await top_up(ordering, payment_provider, ordering.partner_a, 5000, PAYS)
    assert again["status"] == "succeeded"
    assert (await balance_of(ordering, ordering.partner_a))["balance_minor"] == 5000


async def test_a_forged_stale_or_unsigned_notice_is_refused_and_changes_nothing(
    ordering: Ordering, payment_provider: FakePaymentProvider
) -> None:
    status, started, _ = await ordering.call(
        "POST", "/balance/top-ups", ordering.partner_a, {"amount_minor": 5000}, key=str(uuid.uuid4())
    )
    notice = {
        "notice_id": "ntc_forged",
        "payment_id": "pay_forged",
        "reference": started["payment"]["payment_id"],
        "status": "succeeded",
        "amount_minor": 5000,
        "currency": "EUR",
    }
    body = json.dumps(notice).encode()

    forged = sign("not-the-secret", body, time.time())
    stale = sign(LOCAL_WEBHOOK_SECRET, body, time.time() - 3600)
    valid = sign(LOCAL_WEBHOOK_SECRET, body, time.time())
    tampered = json.dumps({**notice, "amount_minor": 500000}).encode()
    for sent, signature in [(body, forged), (body, stale), (body, None), (tampered, valid)]:
        status, problem = await post_notice(ordering, sent, signature)
        assert (status, problem["type"]) == (400, "urn:comptoir:problem:invalid-notice"), problem

    held = await balance_of(ordering, ordering.partner_a)
    assert held["balance_minor"] == 0
    assert [p["status"] for p in held["top_ups"]] == ["pending"]
    assert await ordering.db.fetchval("SELECT count(*) FROM payment_notices") == 0


async def test_a_late_notice_after_the_outcome_and_one_for_no_payment_change_nothing(
    ordering: Ordering, payment_provider: FakePaymentProvider
) -> None:
    payment = await top_up(ordering, payment_provider, ordering.partner_a, 5000)
    late = json.dumps(
        {
            "notice_id": "ntc_late",
            "payment_id": "pay_x",
            "reference": payment["payment_id"],
            "status": "failed",
            "amount_minor": 5000,
            "currency": "EUR",
            "reason": "card declined",
        }
    ).encode()
    status, answer = await post_notice(ordering, late, sign(LOCAL_WEBHOOK_SECRET, late, time.time()))
    assert (status, answer["status"]) == (200, "succeeded")
    assert (await balance_of(ordering, ordering.partner_a))["balance_minor"] == 5000

    nobody = late.replace(payment["payment_id"].encode(), str(uuid.uuid4()).encode())
    status, problem = await post_notice(ordering, nobody, sign(LOCAL_WEBHOOK_SECRET, nobody, time.time()))
    # No such payment (yet): the provider sends it again later.
    assert (status, problem["type"]) == (404, "urn:comptoir:problem:unknown-payment")


async def test_bad_top_ups_are_refused_naming_the_field(ordering: Ordering) -> None:
    cases = [
        ({"amount_minor": 0}, "amount_minor"),
        ({"amount_minor": MAX_BALANCE + 1}, "amount_minor"),
        ({"amount_minor": 100, "currency": "euro"}, "currency"),
        ({"amount_minor": 100, "return_url": "https://evil.example/"}, "return_url"),
    ]
    for body, field in cases:
        status, problem, _ = await ordering.call("POST", "/balance/top-ups", ordering.partner_a, body)
        assert status == 422, problem
        assert [error["field"] for error in problem["errors"]] == [field], problem
    assert await ordering.db.fetchval("SELECT count(*) FROM payments") == 0


async def test_an_admin_reads_a_balance_of_her_tenant_and_only_hers(
    ordering: Ordering, payment_provider: FakePaymentProvider
) -> None:
    await top_up(ordering, payment_provider, ordering.partner_a, 2500)

    status, held, _ = await ordering.call("GET", "/accounts/partner-a1/balance", ordering.admin_a)
    assert (status, held["balance_minor"]) == (200, 2500)
    status, _, _ = await ordering.call("GET", "/accounts/partner-a1/balance", ordering.admin_b)
    assert status == 404
    status, _, _ = await ordering.call("GET", "/accounts/partner-a1/balance", ordering.partner_a2)
    assert status == 403


# --- paying orders from the balance ---


@pytest.fixture
async def balance_shop(shop: Ordering) -> Ordering:  # noqa: F811 - the fixture imported above
    """The checkout shop with the balance as a payment mode and cancellation costs of 5.00 + 10 %."""
    status, body, _ = await shop.call(
        "PUT",
        "/checkout/settings",
        shop.admin_a,
        {
            "payment_modes": ["account_balance", "cash_on_delivery"],
            "cancellation_costs_minor": 500,
            "cancellation_costs_bp": 1000,
        },
    )
    assert status == 200, body
    return shop


async def order(ordering: Ordering, caller: Caller, quantity: int = 3) -> tuple[int, Any]:
    """CREAM x quantity (19.99 + 20 % VAT each), paid from the balance, delivered Friday."""
    status, body = await ordering.submit(
        caller,
        [{"code": "CREAM", "quantity": quantity}],
        key=str(uuid.uuid4()),
        payment_mode="account_balance",
        delivery_date=FRIDAY.isoformat(),
    )
    return status, body


async def test_an_order_paid_from_the_balance_debits_its_total_with_vat(
    balance_shop: Ordering, payment_provider: FakePaymentProvider
) -> None:
    await top_up(balance_shop, payment_provider, balance_shop.partner_a, 10_000)

    status, placed = await order(balance_shop, balance_shop.partner_a)

    assert status == 201, placed
    total = placed["checkout"]["totals"]["total_incl_vat_minor"]
    assert total == 7196  # 3 x 19.99 = 59.97 + 11.99 VAT (delivery is free from 50.00)
    held = await balance_of(balance_shop, balance_shop.partner_a)
    assert held["balance_minor"] == 10_000 - total
    spend = held["entries"][0]
    assert (spend["kind"], spend["amount_minor"], spend["order_id"]) == ("spend", -total, placed["order_id"])


async def test_an_order_the_balance_cannot_pay_is_refused_and_nothing_changes(
    balance_shop: Ordering, payment_provider: FakePaymentProvider
) -> None:
    await top_up(balance_shop, payment_provider, balance_shop.partner_a, 7000)
    before = await balance_shop.counts()

    status, problem = await order(balance_shop, balance_shop.partner_a)

    assert status == 409, problem
    assert (problem["type"], problem["balance_minor"], problem["needed_minor"]) == (
        "urn:comptoir:problem:insufficient-balance",
        7000,
        7196,
    )
    assert await balance_shop.counts() == before
    assert (await balance_of(balance_shop, balance_shop.partner_a))["balance_minor"] == 7000


async def test_a_confirmed_order_cancelled_is_refunded_less_the_cancellation_costs(
    balance_shop: Ordering, payment_provider: FakePaymentProvider
) -> None:
    await top_up(balance_shop, payment_provider, balance_shop.partner_a, 10_000)
    _, placed = await order(balance_shop, balance_shop.partner_a)
    path = f"/orders/{placed['order_id']}/cancel"

    status, cancelled, _ = await balance_shop.call(
        "POST", path, balance_shop.partner_a, {"reason": "Ordered twice"}, key=str(uuid.uuid4())
    )

    assert (status, cancelled["status"]) == (200, "cancelled")
    costs = 500 + 720  # 5.00 and 10 % of 71.96 (7.196, rounded half up)
    held = await balance_shop.call("GET", "/balance", balance_shop.partner_a)
    refund = held[1]["entries"][0]
    assert (refund["kind"], refund["amount_minor"], refund["costs_minor"]) == ("refund", 7196 - costs, costs)
    assert held[1]["balance_minor"] == 10_000 - costs
    [(_, event)] = await balance_shop.published("ordering.order.cancelled")
    assert event["data"]["refund"] == {
        "refunded_minor": 7196 - costs,
        "costs_minor": costs,
        "to": "account_balance",
    }

    again, _, _ = await balance_shop.call("POST", path, balance_shop.partner_a, {}, key=str(uuid.uuid4()))
    assert again == 409  # cancelled once, refunded once
    assert (await balance_of(balance_shop, balance_shop.partner_a))["balance_minor"] == 10_000 - costs


async def test_an_order_refused_or_cancelled_while_awaiting_approval_is_refunded_in_full(
    balance_shop: Ordering, payment_provider: FakePaymentProvider
) -> None:
    a = balance_shop.tenant_a
    await balance_shop.publish(organisation(a, "org-1"), member(a, "validator-a1", ["validator"], "org-1"))
    status, _, _ = await balance_shop.call(
        "PUT", "/organisations/org-1/approval-policy", balance_shop.admin_a, {"threshold_minor": 0}
    )
    assert status == 200
    await top_up(balance_shop, payment_provider, balance_shop.partner_a, 20_000)
    _, first = await order(balance_shop, balance_shop.partner_a)
    _, second = await order(balance_shop, balance_shop.partner_a)
    assert first["status"] == second["status"] == "awaiting_approval"
    assert (await balance_of(balance_shop, balance_shop.partner_a))["balance_minor"] == 20_000 - 2 * 7196

    status, _, _ = await balance_shop.call(
        "POST",
        f"/orders/{first['order_id']}/refuse",
        balance_shop.validator_a,
        {"version": 1, "reason": "Over budget"},
    )
    assert status == 200
    status, _, _ = await balance_shop.call(
        "POST", f"/orders/{second['order_id']}/cancel", balance_shop.partner_a, {}
    )
    assert status == 200

    held = await balance_of(balance_shop, balance_shop.partner_a)
    assert held["balance_minor"] == 20_000
    assert [(e["kind"], e["costs_minor"]) for e in held["entries"][:2]] == [("refund", 0), ("refund", 0)]


def test_cancellation_costs_are_fixed_plus_a_share_rounded_half_up_never_more_than_paid() -> None:
    settings = CheckoutSettings(cancellation_costs_minor=500, cancellation_costs_bp=1000)
    assert cancellation_costs(7196, settings) == 500 + 720
    assert cancellation_costs(7195, settings) == 500 + 720  # 719.5 rounds up
    assert cancellation_costs(7194, settings) == 500 + 719
    assert cancellation_costs(300, settings) == 300
    assert cancellation_costs(7196, CheckoutSettings()) == 0
