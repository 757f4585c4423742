"""Reward programs at the counter on the fast tier: what a customer can take now, a reward taken with
a purchase (its points spent, its discount taken off before the rules read the amount), per-visit,
welcome and professional programs, shops that opted out, and refusals that change nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.loyalty.tests.test_counter import PER_EURO, Counter, purchase

pytestmark = pytest.mark.fast

TEN_OFF = {"title": "10 % off", "kind": "discount", "percent_bp": 1000, "points_cost": 40}


@pytest.fixture
async def counter(loyalty: Any) -> Counter:
    shop = Counter(loyalty)
    await shop.open_shop()
    await shop.rule(PER_EURO)
    return shop


async def _program(counter: Counter, spec: dict[str, Any]) -> str:
    status, program = await counter.loyalty.call("POST", "/counter/programs", counter.admin, spec)
    assert status == 201, program
    return str(program["program_id"])


async def _offered(counter: Counter, card: str) -> list[str]:
    status, body = await counter.loyalty.call("GET", f"/cards/{card}", counter.staff)
    assert status == 200, body
    return [p["spec"]["title"] for p in body["rewards"]]


async def test_a_reward_taken_with_a_purchase_spends_its_points_and_takes_its_discount_off(
    counter: Counter,
) -> None:
    ten_off = await _program(counter, TEN_OFF)
    gift = await _program(
        counter, {"title": "A lipstick", "kind": "gift", "gift": "Lipstick", "points_cost": 5}
    )
    await counter.customer("R1")
    assert await _offered(counter, "R1") == []
    await counter.record("R1", purchase(4590))  # 45 points
    assert await _offered(counter, "R1") == ["10 % off", "A lipstick"]

    status, visit = await counter.record("R1", purchase(2000, rewards=[ten_off, gift]))

    assert status == 201, visit
    # 45 - 40 - 5 spent, then 18 € paid earn 18.
    assert (visit["spent"], visit["discount_minor"], visit["points"], visit["balance"]) == (45, 200, 18, 18)
    assert sorted(visit["rewards"]) == sorted([ten_off, gift])
    entries = await counter.loyalty.db.fetch(
        "SELECT kind, points, cause_type FROM ledger WHERE tenant_id = $1 ORDER BY seq", counter.tenant
    )
    assert [(e["kind"], e["points"], e["cause_type"]) for e in entries] == [
        ("earn", 45, "visit"),
        ("redeem", -45, "reward"),
        ("earn", 18, "visit"),
    ]
    spent = [e for _, e in await counter.loyalty.points_events() if e["type"] == "loyalty.points.spent"]
    assert [e["data"]["points"] for e in spent] == [-45]
    # The balance no longer holds 40 points: the discount is not offered any more.
    assert await _offered(counter, "R1") == ["A lipstick"]


async def test_not_enough_points_or_an_unknown_reward_is_refused_and_changes_nothing(
    counter: Counter,
) -> None:
    ten_off = await _program(counter, TEN_OFF)
    await counter.customer("R2")
    await counter.record("R2", purchase(1000))  # 10 points
    visits = await counter.visits()

    status, problem = await counter.record("R2", purchase(2000, rewards=[ten_off]))
    assert status == 409 and problem["type"] == "urn:comptoir:problem:insufficient-points"
    status, problem = await counter.record("R2", purchase(2000, rewards=[str(uuid.uuid4())]))
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["rewards"]
    status, problem = await counter.record("R2", {"kind": "visit", "rewards": [ten_off]})
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["rewards"]
    status, problem = await counter.record("R2", purchase(2000, rewards=[ten_off, ten_off]))
    assert status == 422
    assert await counter.visits() == visits
    assert (await counter.loyalty.call("GET", "/cards/R2", counter.staff))[1]["balance"] == 10


async def test_per_visit_welcome_professional_and_opted_out_programs(counter: Counter) -> None:
    await _program(counter, {"title": "Every 3rd visit", "kind": "gift", "gift": "Coffee", "every_visits": 3})
    await _program(counter, {"title": "Welcome", "kind": "discount", "percent_bp": 500, "welcome": True})
    await _program(
        counter, {"title": "Pros", "kind": "cashback", "percent_bp": 300, "professionals_only": True}
    )
    await _program(
        counter, {"title": "Not here", "kind": "gift", "gift": "Pen", "excluded_shops": [counter.shop_id]}
    )
    await counter.customer("R3")
    await counter.customer("PRO3", professional=True)

    assert await _offered(counter, "R3") == ["Welcome"]  # her first visit: welcome, not yet the 3rd
    assert "Pros" in await _offered(counter, "PRO3")
    programs = {
        p["spec"]["title"]: p["program_id"]
        for p in (await counter.loyalty.call("GET", "/counter/programs", counter.staff))[1]
    }
    status, problem = await counter.record("R3", purchase(1000, rewards=[programs["Pros"]]))
    assert status == 409 and problem["type"] == "urn:comptoir:problem:reward-unavailable"  # not points
    await counter.record("R3", purchase(1000, rewards=[programs["Welcome"]]))
    await counter.record("R3", {"kind": "visit"})
    assert await _offered(counter, "R3") == ["Every 3rd visit"]  # the 3rd; the welcome is gone
    await counter.record("R3", purchase(500, rewards=[programs["Every 3rd visit"]]))
    assert await _offered(counter, "R3") == []
    for _ in range(2):
        await counter.record("R3", {"kind": "visit"})
    assert await _offered(counter, "R3") == ["Every 3rd visit"]  # three visits after she took it
    # The manager, at no shop, is offered what the shop opted out of; the customer sees it too.
    customer = {"account_id": "customer-R3", "tenant_id": counter.tenant, "roles": ["customer"]}
    assert [p["spec"]["title"] for p in (await counter.loyalty.call("GET", "/rewards", customer))[1]] == [
        "Every 3rd visit",
        "Not here",
    ]


async def test_a_retired_program_is_offered_no_more_and_programs_are_the_managers(counter: Counter) -> None:
    ten_off = await _program(counter, TEN_OFF | {"points_cost": 0})
    await counter.customer("R4")
    assert (await counter.loyalty.call("POST", "/counter/programs", counter.staff, TEN_OFF))[0] == 403
    status, retired = await counter.loyalty.call("DELETE", f"/counter/programs/{ten_off}", counter.admin)
    assert status == 200 and retired["retired_at"]
    assert await _offered(counter, "R4") == []
    status, problem = await counter.record("R4", purchase(1000, rewards=[ten_off]))
    assert status == 409
    other_admin = counter.loyalty.admin_b
    assert (await counter.loyalty.call("DELETE", f"/counter/programs/{ten_off}", other_admin))[0] == 404
    for body, field in (
        (TEN_OFF | {"percent_bp": 0}, ""),
        ({"title": "Gift", "kind": "gift"}, ""),
        (TEN_OFF | {"every_visits": 3}, ""),
        (TEN_OFF | {"points_cost": -1}, "points_cost"),
    ):
        status, problem = await counter.loyalty.call("POST", "/counter/programs", counter.admin, body)
        assert status == 422 and problem["errors"][0]["field"] == field, (body, problem)
