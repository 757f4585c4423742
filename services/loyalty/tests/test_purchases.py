"""Gift cards bought online on the fast tier: the buyer pays on the fake provider's page, the signed
notice (posted here by the test: no gateway) issues the card once, for her or the member she named,
and asks notify to email it with its PIN; a declined payment, a forged or unknown notice, a foreign
return URL and an unknown card issue nothing."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from libs.devstack.payments import DECLINED, PAYS, FakePaymentProvider
from services.loyalty.tests.test_counter import Counter

pytestmark = pytest.mark.fast


@pytest.fixture
async def counter(loyalty: Any) -> Counter:
    shop = Counter(loyalty)
    await shop.open_shop()
    return shop


async def _buy(counter: Counter, buyer: dict[str, Any], **body: Any) -> tuple[int, Any]:
    return await counter.loyalty.call("POST", "/gift-cards/purchases", buyer, {"amount_minor": 4000} | body)


async def _pay(provider: FakePaymentProvider, started: dict[str, Any], card: str) -> tuple[bytes, str]:
    """The buyer pays on the provider's page; the signed notice it sent about this purchase."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(started["redirect_url"], json={"card": card}) as paid,
    ):
        assert paid.status == 200, await paid.text()
    reference = started["purchase"]["purchase_id"]
    [notice] = [sent for sent in provider.sent if json.loads(sent.body)["reference"] == reference]
    return notice.body, notice.signature


async def _post_notice(counter: Counter, body: bytes, signature: str | None) -> tuple[int, Any]:
    service = counter.loyalty.service
    headers = {"Content-Type": "application/json", **({"Payment-Signature": signature} if signature else {})}
    async with service.http.post(service.url + "/payments/notices", data=body, headers=headers) as answer:
        return answer.status, await answer.json(content_type=None)


async def _requests(counter: Counter) -> list[dict[str, Any]]:
    rows = await counter.loyalty.db.fetch(
        "SELECT convert_from(payload, 'UTF8') AS text FROM outbox"
        " WHERE topic IN ('loyalty.giftcard.v1', 'internal.notify.requests.v1') ORDER BY id"
    )
    return [json.loads(row["text"]) for row in rows]


async def test_a_card_bought_online_is_issued_once_to_the_member_it_is_for(
    counter: Counter, payment_provider: FakePaymentProvider
) -> None:
    buyer_id = await counter.customer("BUY1")
    friend_id = await counter.customer("FRIEND1")
    buyer = {"account_id": buyer_id, "tenant_id": counter.tenant, "roles": ["customer"]}
    friend = {"account_id": friend_id, "tenant_id": counter.tenant, "roles": ["customer"]}

    status, started = await _buy(counter, buyer, for_card="friend1")
    assert status == 201 and started["purchase"]["status"] == "pending", started
    assert (await counter.loyalty.call("GET", "/gift-cards", friend))[1] == []  # nothing before it is paid
    body, signature = await _pay(payment_provider, started, PAYS)
    first, again = await _post_notice(counter, body, signature), await _post_notice(counter, body, signature)

    assert first[0] == again[0] == 200 and first[1]["status"] == again[1]["status"] == "succeeded"
    status, purchase = await counter.loyalty.call(
        "GET", f"/gift-cards/purchases/{started['purchase']['purchase_id']}", buyer
    )
    assert status == 200 and purchase["status"] == "succeeded" and purchase["card_id"]
    [card] = (await counter.loyalty.call("GET", "/gift-cards", friend))[1]
    assert (card["card_id"], card["kind"], card["balance_minor"]) == (purchase["card_id"], "virtual", 4000)
    assert (await counter.loyalty.call("GET", "/gift-cards", buyer))[1] == []
    sold, delivery = await _requests(counter)
    assert sold["type"] == "loyalty.giftcard.sold" and sold["data"]["online"] is True
    assert sold["data"]["shop_id"] is None and card["number"] not in json.dumps(sold)
    assert delivery["type"] == "loyalty.giftcard.delivery_requested" and delivery["subject"] == friend_id
    assert delivery["data"]["number"] == card["number"] and len(delivery["data"]["pin"]) == 6
    # Her PIN spends the card at a shop.
    redeem = {"number": card["number"], "pin": delivery["data"]["pin"], "amount_minor": 1000}
    status, redeemed = await counter.loyalty.call("POST", "/gift-cards/redemptions", counter.staff, redeem)
    assert status == 200 and redeemed["card"]["balance_minor"] == 3000
    # Only the buyer (or the manager) reads the purchase.
    path = f"/gift-cards/purchases/{purchase['purchase_id']}"
    assert (await counter.loyalty.call("GET", path, friend))[0] == 404
    assert (await counter.loyalty.call("GET", path, counter.admin))[0] == 200


async def test_a_declined_payment_issues_nothing_and_bad_notices_change_nothing(
    counter: Counter, payment_provider: FakePaymentProvider
) -> None:
    buyer_id = await counter.customer("BUY2")
    buyer = {"account_id": buyer_id, "tenant_id": counter.tenant, "roles": ["customer"]}
    status, started = await _buy(counter, buyer)
    assert status == 201

    body, signature = await _pay(payment_provider, started, DECLINED)
    forged = body.replace(b'"failed"', b'"succeeded"')
    assert (await _post_notice(counter, forged, signature))[0] == 400
    assert (await _post_notice(counter, body, None))[0] == 400
    status, answer = await _post_notice(counter, body, signature)

    assert status == 200 and answer["status"] == "failed"
    assert await counter.loyalty.db.fetchval("SELECT count(*) FROM gift_cards") == 0
    assert await _requests(counter) == []
    status, purchase = await counter.loyalty.call(
        "GET", f"/gift-cards/purchases/{answer['purchase_id']}", buyer
    )
    assert purchase["status"] == "failed" and purchase["failure_reason"] and purchase["card_id"] is None


async def test_refused_purchases_record_nothing(counter: Counter) -> None:
    buyer_id = await counter.customer("BUY3")
    buyer = {"account_id": buyer_id, "tenant_id": counter.tenant, "roles": ["customer"]}
    for bad, field in (
        ({"for_card": "NOBODY9"}, "for_card"),
        ({"return_url": "https://elsewhere.example/"}, "return_url"),
        ({"amount_minor": 0}, "amount_minor"),
        ({"currency": "euro"}, "currency"),
    ):
        status, problem = await _buy(counter, buyer, **bad)
        assert status == 422 and problem["errors"][0]["field"] == field, problem
    assert (await _buy(counter, counter.staff))[0] == 403
    assert await counter.loyalty.db.fetchval("SELECT count(*) FROM gift_card_purchases") == 0
