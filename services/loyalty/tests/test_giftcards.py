"""Gift cards on the fast tier: sold at a shop (virtual, or a batch's physical card), redeemed in
part with its PIN, wrong PINs locking it, expiry, the member's own cards; refusals change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from services.loyalty.tests.test_counter import Counter

pytestmark = pytest.mark.fast


@pytest.fixture
async def counter(loyalty: Any) -> Counter:
    shop = Counter(loyalty)
    await shop.open_shop()
    return shop


async def _sell(counter: Counter, **body: Any) -> dict[str, Any]:
    status, card = await counter.loyalty.call(
        "POST", "/gift-cards/sales", counter.staff, {"amount_minor": 5000} | body
    )
    assert status == 201, card
    return dict(card)


async def _redeem(counter: Counter, number: str, pin: str, amount: int) -> tuple[int, Any]:
    body = {"number": number, "pin": pin, "amount_minor": amount}
    return await counter.loyalty.call("POST", "/gift-cards/redemptions", counter.staff, body)


async def test_a_virtual_card_sold_then_partly_redeemed_keeps_its_history(counter: Counter) -> None:
    card = await _sell(counter)
    assert card["kind"] == "virtual" and card["balance_minor"] == 5000 and len(card["pin"]) == 6

    status, redeemed = await _redeem(counter, card["number"], card["pin"], 2000)

    assert (
        status == 200
        and redeemed["card"]["balance_minor"] == 3000
        and redeemed["move"]["amount_minor"] == -2000
    )
    status, problem = await _redeem(counter, card["number"], card["pin"], 4000)
    assert status == 409 and problem["type"] == "urn:comptoir:problem:gift-card-insufficient"
    body = {"number": card["number"], "pin": card["pin"]}
    status, checked = await counter.loyalty.call("POST", "/gift-cards/balance-checks", counter.staff, body)
    assert checked["balance_minor"] == 3000 and [m["amount_minor"] for m in checked["moves"]] == [-2000, 5000]
    events = await counter.loyalty.db.fetch(
        "SELECT convert_from(payload, 'UTF8')::jsonb ->> 'type' AS type,"
        " convert_from(payload, 'UTF8') AS text FROM outbox WHERE topic = 'loyalty.giftcard.v1' ORDER BY id"
    )
    assert [e["type"] for e in events] == ["loyalty.giftcard.sold", "loyalty.giftcard.redeemed"]
    assert not any(card["number"] in e["text"] or card["pin"] in e["text"] for e in events)


async def test_wrong_pins_lock_the_card_and_the_number_alone_never_spends(counter: Counter) -> None:
    card = await _sell(counter)
    wrong = "000000" if card["pin"] != "000000" else "111111"
    for left in (4, 3, 2, 1):
        status, problem = await _redeem(counter, card["number"], wrong, 100)
        assert status == 422 and problem["errors"][0]["field"] == "pin", problem
        assert f"{left} tries left" in problem["errors"][0]["message"]
    assert (await _redeem(counter, card["number"], wrong, 100))[0] == 422  # the fifth locks it
    status, problem = await _redeem(counter, card["number"], card["pin"], 100)
    assert status == 409 and problem["type"] == "urn:comptoir:problem:gift-card-locked"
    assert await counter.loyalty.db.fetchval("SELECT balance_minor FROM gift_cards") == 5000
    assert (
        await counter.loyalty.call(
            "POST", "/gift-cards/redemptions", counter.staff, {"number": card["number"], "amount_minor": 100}
        )
    )[0] == 422


async def test_a_batch_of_physical_cards_is_activated_when_sold(counter: Counter) -> None:
    status, batch = await counter.loyalty.call(
        "POST", "/gift-cards/batches", counter.admin, {"label": "Noël", "count": 3}
    )
    assert status == 201 and len(batch["cards"]) == 3
    first = batch["cards"][0]
    status, problem = await _redeem(counter, first["number"], first["pin"], 100)
    assert status == 409 and problem["type"] == "urn:comptoir:problem:gift-card-not-sold"

    sold = await _sell(counter, number=first["number"], amount_minor=3000)
    assert sold["kind"] == "physical" and sold["pin"] is None and sold["balance_minor"] == 3000
    assert (await _redeem(counter, first["number"], first["pin"], 3000))[1]["card"]["balance_minor"] == 0
    status, problem = await counter.loyalty.call(
        "POST", "/gift-cards/sales", counter.staff, {"amount_minor": 100, "number": first["number"]}
    )
    assert status == 409 and problem["type"] == "urn:comptoir:problem:gift-card-sold"
    status, imported = await counter.loyalty.call(
        "POST",
        "/gift-cards/batches",
        counter.admin,
        {"label": "Printer", "cards": [{"number": "7000111122223333", "pin": "4321"}]},
    )
    assert status == 201 and imported["cards"] == [{"number": "7000111122223333", "pin": "4321"}]
    assert (
        await counter.loyalty.call("POST", "/gift-cards/batches", counter.staff, {"label": "x", "count": 1})
    )[0] == 403


async def test_refusals_unknown_expired_other_tenant_and_bad_input(counter: Counter) -> None:
    card = await _sell(counter)
    assert (await _redeem(counter, "9999888877776666", "123456", 100))[0] == 404
    other = counter.staff | {"tenant_id": counter.loyalty.tenant_b}
    body = {"number": card["number"], "pin": card["pin"], "amount_minor": 100}
    assert (await counter.loyalty.call("POST", "/gift-cards/redemptions", other, body))[0] == 404
    for bad in ({"amount_minor": 0}, {"amount_minor": -5}, {"pin": "12"}, {"number": "x"}):
        assert (await counter.loyalty.call("POST", "/gift-cards/redemptions", counter.staff, body | bad))[
            0
        ] == 422
    await counter.loyalty.db.execute("UPDATE gift_cards SET expires_at = now() - interval '1 second'")
    status, problem = await _redeem(counter, card["number"], card["pin"], 100)
    assert status == 410 and problem["type"] == "urn:comptoir:problem:gift-card-expired"
    assert await counter.loyalty.db.fetchval("SELECT count(*) FROM gift_card_moves") == 1


async def test_a_card_sold_for_a_member_is_hers_to_see(counter: Counter) -> None:
    account_id = await counter.customer("GC01")
    card = await _sell(counter, for_card="gc01")
    member = {"account_id": account_id, "tenant_id": counter.tenant, "roles": ["customer"]}
    await _redeem(counter, card["number"], card["pin"], 1500)
    status, mine = await counter.loyalty.call("GET", "/gift-cards", member)
    assert status == 200 and [(c["balance_minor"], len(c["moves"])) for c in mine] == [(3500, 2)]
    status, problem = await counter.loyalty.call(
        "POST", "/gift-cards/sales", counter.staff, {"amount_minor": 1, "for_card": "NOPE1"}
    )
    assert status == 422 and problem["errors"][0]["field"] == "for_card"
