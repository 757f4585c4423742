"""Vouchers on the fast tier: a reward taken online spends its points and issues a single-use code,
emailed through notify and never stored; a shop redeems it once before it expires."""

from __future__ import annotations

import re
from typing import Any

import pytest

from services.loyalty.tests.test_counter import PER_EURO, Counter, purchase
from services.loyalty.tests.test_rewards import TEN_OFF

pytestmark = pytest.mark.fast


@pytest.fixture
async def counter(loyalty: Any) -> Counter:
    shop = Counter(loyalty)
    await shop.open_shop()
    await shop.rule(PER_EURO)
    return shop


async def _member_with_points(counter: Counter, card: str, amount_minor: int) -> dict[str, Any]:
    account_id = await counter.customer(card)
    await counter.record(card, purchase(amount_minor))
    return {"account_id": account_id, "tenant_id": counter.tenant, "roles": ["customer"]}


async def _program(counter: Counter, spec: dict[str, Any]) -> str:
    status, program = await counter.loyalty.call("POST", "/counter/programs", counter.admin, spec)
    assert status == 201, program
    return str(program["program_id"])


async def test_a_reward_taken_online_issues_a_code_a_shop_redeems_once(counter: Counter) -> None:
    program = await _program(counter, TEN_OFF)
    member = await _member_with_points(counter, "V1", 5000)  # 50 points

    status, voucher = await counter.loyalty.call("POST", f"/rewards/{program}/vouchers", member)

    assert status == 201, voucher
    code = voucher["code"]
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", code) and voucher["code_hint"] == code[-4:]
    assert await counter.loyalty.balance(member) == 10
    # The code is never stored, nor on a public topic: notify alone is asked to email it.
    rows = await counter.loyalty.db.fetch("SELECT topic, convert_from(payload, 'UTF8') AS text FROM outbox")
    assert {row["topic"] for row in rows if code in row["text"]} == {"internal.notify.requests.v1"}
    stored = await counter.loyalty.db.fetch("SELECT * FROM vouchers")
    assert code not in str([dict(row) for row in stored])
    status, mine = await counter.loyalty.call("GET", "/vouchers", member)
    assert [v["code_hint"] for v in mine] == [code[-4:]] and "code" not in mine[0]

    typed = code.lower().replace("-", " ")  # as a customer reads it out
    status, redeemed = await counter.loyalty.call(
        "POST", "/vouchers/redemptions", counter.staff, {"code": typed}
    )
    assert status == 200 and redeemed["redeemed_at"], redeemed
    status, problem = await counter.loyalty.call(
        "POST", "/vouchers/redemptions", counter.staff, {"code": code}
    )
    assert status == 409 and problem["type"] == "urn:comptoir:problem:voucher-used"


async def test_not_enough_points_an_unknown_or_expired_code_or_another_tenant_is_refused(
    counter: Counter,
) -> None:
    program = await _program(counter, TEN_OFF)
    poor = await _member_with_points(counter, "V2", 1000)  # 10 points
    status, problem = await counter.loyalty.call("POST", f"/rewards/{program}/vouchers", poor)
    assert status == 409 and problem["type"] == "urn:comptoir:problem:insufficient-points"
    assert await counter.loyalty.balance(poor) == 10
    assert await counter.loyalty.db.fetchval("SELECT count(*) FROM vouchers") == 0

    rich = await _member_with_points(counter, "V3", 9000)
    code = (await counter.loyalty.call("POST", f"/rewards/{program}/vouchers", rich))[1]["code"]
    other_staff = counter.staff | {"tenant_id": counter.loyalty.tenant_b}
    status, problem = await counter.loyalty.call("POST", "/vouchers/redemptions", other_staff, {"code": code})
    assert status == 404 and problem["type"] == "urn:comptoir:problem:unknown-voucher"
    assert (await counter.loyalty.call("POST", "/vouchers/redemptions", rich, {"code": code}))[0] == 403
    await counter.loyalty.db.execute("UPDATE vouchers SET expires_at = now() - interval '1 second'")
    status, problem = await counter.loyalty.call(
        "POST", "/vouchers/redemptions", counter.staff, {"code": code}
    )
    assert status == 410 and problem["type"] == "urn:comptoir:problem:voucher-expired"
    for body in ({"code": "abc"}, {"code": code, "extra": 1}, {}):
        assert (await counter.loyalty.call("POST", "/vouchers/redemptions", counter.staff, body))[0] == 422
