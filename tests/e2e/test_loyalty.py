"""Merchant loyalty's failure paths on the real stack, through the gateway: a reward refused for want
of points, an expired code, gift card redemptions racing over HTTP, the wrong-PIN limit; and a
customer's erasure reaching loyalty's new tables (card, vouchers, gift cards, visits) and the emails
they caused."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from libs.devstack.devrun import Platform
from tests.e2e.conftest import PASSWORD, Api, eventually, mail_text, merchant, rows_holding

pytestmark = [pytest.mark.asyncio(loop_scope="package")]


async def test_a_reward_without_the_points_and_an_expired_code_are_refused_and_change_nothing(
    api: Api, platform: Platform, unique: str
) -> None:
    shop = await merchant(api, unique, "lf")
    program = {"title": "10 % off", "kind": "discount", "percent_bp": 1000, "points_cost": 40}
    _, created = await api.call(
        "POST", "/api/loyalty/counter/programs", token=shop.admin, expect=201, json=program
    )
    take = f"/api/loyalty/rewards/{created['program_id']}/vouchers"

    status, problem = await api.call("POST", take, token=shop.customer)
    assert status == 409 and problem["type"].endswith("insufficient-points"), problem
    assert (await shop.visit(api, 5000))[0] == 201
    _, mine = await api.call("GET", "/api/loyalty/accounts/me/card", token=shop.customer, expect=200)
    assert mine["balance"] == 50

    _, voucher = await api.call("POST", take, token=shop.customer, expect=201)
    conn = await asyncpg.connect(platform.stack.database_url)
    try:
        await conn.execute(
            f"UPDATE {platform.schema('loyalty')}.vouchers SET expires_at = now() - interval '1 second'"
            " WHERE voucher_id = $1",
            voucher["voucher_id"],
        )
    finally:
        await conn.close()
    redeem = {"code": voucher["code"]}
    status, problem = await api.call(
        "POST", "/api/loyalty/vouchers/redemptions", token=shop.staff, json=redeem
    )
    assert status == 410 and problem["type"].endswith("voucher-expired"), problem
    _, mine = await api.call("GET", "/api/loyalty/accounts/me/card", token=shop.customer, expect=200)
    assert mine["balance"] == 10  # the 40 points were spent on the code, nothing more


async def test_gift_card_redemptions_racing_through_the_gateway_and_the_wrong_pin_limit(
    api: Api, unique: str
) -> None:
    shop = await merchant(api, unique, "lg")

    async def sell() -> dict[str, Any]:
        _, card = await api.call(
            "POST", "/api/loyalty/gift-cards/sales", token=shop.staff, expect=201, json={"amount_minor": 5000}
        )
        return dict(card)

    raced = await sell()
    body = {"number": raced["number"], "pin": raced["pin"], "amount_minor": 1000}
    answers = await asyncio.gather(
        *(
            api.call("POST", "/api/loyalty/gift-cards/redemptions", token=shop.staff, json=body)
            for _ in range(8)
        )
    )
    assert sorted(status for status, _ in answers) == [200] * 5 + [409] * 3
    check = {"number": raced["number"], "pin": raced["pin"]}
    _, left = await api.call(
        "POST", "/api/loyalty/gift-cards/balance-checks", token=shop.staff, expect=200, json=check
    )
    assert left["balance_minor"] == 0 and sum(move["amount_minor"] for move in left["moves"]) == 0

    locked = await sell()
    wrong = "000000" if locked["pin"] != "000000" else "111111"
    for _ in range(5):
        status, problem = await api.call(
            "POST",
            "/api/loyalty/gift-cards/redemptions",
            token=shop.staff,
            json={"number": locked["number"], "pin": wrong, "amount_minor": 100},
        )
        assert status == 422 and problem["errors"][0]["field"] == "pin"
    right = {"number": locked["number"], "pin": locked["pin"], "amount_minor": 100}
    status, problem = await api.call(
        "POST", "/api/loyalty/gift-cards/redemptions", token=shop.staff, json=right
    )
    assert status == 409 and problem["type"].endswith("gift-card-locked"), problem


async def test_erasing_a_customer_reaches_her_card_vouchers_gift_cards_and_visits(
    api: Api, platform: Platform, unique: str
) -> None:
    shop = await merchant(api, unique, "le")
    program = {"title": "Un cadeau", "kind": "gift", "gift": "Rouge", "points_cost": 10}
    _, created = await api.call(
        "POST", "/api/loyalty/counter/programs", token=shop.admin, expect=201, json=program
    )
    assert (await shop.visit(api, 3000))[0] == 201
    _, voucher = await api.call(
        "POST", f"/api/loyalty/rewards/{created['program_id']}/vouchers", token=shop.customer, expect=201
    )
    _, sold = await api.call(
        "POST",
        "/api/loyalty/gift-cards/sales",
        token=shop.staff,
        expect=201,
        json={"amount_minor": 2000, "for_card": shop.card},
    )

    async def emailed() -> bool:  # her code and her gift card, with their secrets
        texts = [mail_text(mail) for mail in api.mails_to(shop.customer_email)]
        return any(sold["number"] in text for text in texts) and len(texts) >= 3

    await eventually(emailed, "her code and her gift card emailed")
    personal = [shop.customer_email, shop.card, voucher["code"]]
    assert await rows_holding(platform, personal)
    await api.call("DELETE", "/api/identity/me", token=shop.customer, expect=204, json={"password": PASSWORD})

    async def erased() -> list[str] | None:
        return None if await rows_holding(platform, personal) else ["erased"]

    try:
        await eventually(erased, "every service to erase her")
    except AssertionError:
        raise AssertionError("\n".join(await rows_holding(platform, personal))) from None
    # The shop's books stay whole: the gift card still spends with its PIN, the visit is counted.
    redeem = {"number": sold["number"], "pin": sold["pin"], "amount_minor": 500}
    _, spent = await api.call("POST", "/api/loyalty/gift-cards/redemptions", token=shop.staff, json=redeem)
    assert spent["card"]["balance_minor"] == 1500
    status, _ = await api.call("GET", f"/api/loyalty/cards/{shop.card}", token=shop.staff)
    assert status == 404
