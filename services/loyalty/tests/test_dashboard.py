"""The manager's dashboard on the fast tier: what the counter did, per day and per shop, and its CSV."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.loyalty import store
from services.loyalty.tests.test_counter import PER_EURO, Counter, purchase
from services.loyalty.tests.test_rewards import TEN_OFF

pytestmark = pytest.mark.fast


async def test_the_dashboard_counts_customers_visits_points_rewards_and_gift_cards_per_shop(
    loyalty: Any,
) -> None:
    counter = Counter(loyalty)
    await counter.open_shop()
    other = await counter.open_shop(str(uuid.uuid4()))
    await counter.rule(PER_EURO)
    status, program = await loyalty.call(
        "POST", "/counter/programs", counter.admin, TEN_OFF | {"points_cost": 10}
    )
    await counter.customer("D1")
    await counter.customer("D2")
    await counter.record("D1", purchase(4590))  # 45 points
    await counter.record("D1", purchase(2000, rewards=[program["program_id"]]))  # 10 spent, 18 earned
    await counter.record("D2", {"kind": "visit", "shop_id": other}, counter.admin)
    await loyalty.call("POST", "/gift-cards/sales", counter.staff, {"amount_minor": 5000})
    today = datetime.now(UTC).date()
    query = f"since={today - timedelta(days=6)}&until={today}"

    status, board = await loyalty.call("GET", f"/dashboard?{query}", counter.admin)

    assert status == 200, board
    assert board["customers"] == {"total": 2, "new": 2, "active": 2}
    totals = board["totals"]
    assert (totals["visits"], totals["purchases_minor"], totals["points_issued"]) == (3, 6590, 63)
    assert (totals["points_spent"], totals["rewards_redeemed"], totals["gift_cards_sold_minor"]) == (
        10,
        1,
        5000,
    )
    assert [row["period"] for row in board["series"]] == [str(today)]

    status, shop = await loyalty.call("GET", f"/dashboard?{query}&shop_id={other}", counter.admin)
    assert shop["totals"]["visits"] == 1 and shop["totals"]["points_issued"] == 0
    assert shop["customers"] == {"total": 0, "new": 1, "active": 1}  # registered elsewhere

    service = loyalty.service
    async with service.http.get(
        service.url + f"/dashboard.csv?{query}", headers=service.tokens.headers(**counter.admin)
    ) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert rows[0]["visits"] == "3" and rows[0]["points_issued"] == "63"

    assert (await loyalty.call("GET", f"/dashboard?{query}", counter.staff))[0] == 403
    # The journal, searched by card: the shop's own visits only; the manager's of any shop.
    assert len((await loyalty.call("GET", "/visits?card=d1", counter.staff))[1]) == 2
    assert (await loyalty.call("GET", "/visits?card=d2", counter.staff))[1] == []
    assert len((await loyalty.call("GET", "/visits?card=d2", counter.admin))[1]) == 1
    assert (await loyalty.call("GET", "/visits?card=NOPE", counter.admin))[1] == []
    assert (await loyalty.call("GET", "/dashboard", counter.admin))[1]["totals"]["visits"] == 3  # 30 days
    for bad in (
        f"since={today}&until={today - timedelta(days=1)}",
        "since=yesterday&until=today",
        f"since={today - timedelta(days=800)}",
    ):
        assert (await loyalty.call("GET", f"/dashboard?{bad}", counter.admin))[0] == 422, bad
    assert (await loyalty.call("GET", f"/dashboard?{query}", counter.loyalty.admin_b))[1]["totals"][
        "visits"
    ] == 0


async def test_the_dashboard_counts_the_tenants_days_in_its_time_zone(loyalty: Any) -> None:
    counter = Counter(loyalty)
    await counter.open_shop()
    await counter.customer("TZ1")
    await counter.record("TZ1", {"kind": "visit"})
    # The visit happened at 23:30 UTC on 4 March: already 5 March in Auckland (UTC+13).
    late = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)
    await loyalty.db.execute("UPDATE visits SET recorded_at = $1", late)
    query = "since=2026-03-05&until=2026-03-05"

    utc = (await loyalty.call("GET", f"/dashboard?{query}", counter.admin))[1]
    assert utc["time_zone"] == "UTC" and utc["totals"]["visits"] == 0  # before identity tells its zone
    changed = datetime(2026, 3, 1, tzinfo=UTC).isoformat()
    await counter.announce(
        "identity.tenant.settings_changed", counter.tenant, time_zone="Pacific/Auckland", changed_at=changed
    )
    older = datetime(2026, 2, 1, tzinfo=UTC).isoformat()
    await counter.announce(  # a late, older change: nothing changes
        "identity.tenant.settings_changed", counter.tenant, time_zone="Europe/Paris", changed_at=older
    )

    board = (await loyalty.call("GET", f"/dashboard?{query}", counter.admin))[1]
    assert board["time_zone"] == "Pacific/Auckland" and board["totals"]["visits"] == 1
    assert [row["period"] for row in board["series"]] == ["2026-03-05"]


async def test_the_journal_shows_visits_codes_and_gift_cards_and_is_searched_by_card_or_gift_card(
    loyalty: Any,
) -> None:
    counter = Counter(loyalty)
    await counter.open_shop()
    other = await counter.open_shop(str(uuid.uuid4()))
    await counter.rule(PER_EURO)
    _, program = await loyalty.call("POST", "/counter/programs", counter.admin, TEN_OFF)
    account_id = await counter.customer("JRN1")
    await counter.customer("JRN2")
    await counter.record("JRN1", purchase(5000))  # 50 points
    member = {"account_id": account_id, "tenant_id": counter.tenant, "roles": ["customer"]}
    _, voucher = await loyalty.call("POST", f"/rewards/{program['program_id']}/vouchers", member)
    await loyalty.call("POST", "/vouchers/redemptions", counter.staff, {"code": voucher["code"]})
    _, card = await loyalty.call(
        "POST", "/gift-cards/sales", counter.staff, {"amount_minor": 3000, "for_card": "JRN1"}
    )
    redeem = {"number": card["number"], "pin": card["pin"], "amount_minor": 1200}
    await loyalty.call("POST", "/gift-cards/redemptions", counter.staff, redeem)
    await counter.record("JRN2", {"kind": "visit", "shop_id": other}, counter.admin)

    status, mine = await loyalty.call("GET", "/journal", counter.staff)

    assert status == 200
    assert [(line["kind"], line["amount_minor"], line["points"]) for line in mine] == [
        ("gift_card_redeem", -1200, 0),
        ("gift_card_sale", 3000, 0),
        ("voucher", 0, 0),
        ("purchase", 5000, 50),
    ]  # the shop's own: not the visit at the other shop
    assert mine[0]["reference"] == card["number"][-4:] and mine[2]["reference"] == voucher["code"][-4:]
    assert len((await loyalty.call("GET", "/journal", counter.admin))[1]) == 5
    by_card = (await loyalty.call("GET", "/journal?card=jrn2", counter.admin))[1]
    assert [line["kind"] for line in by_card] == ["visit"]
    by_gift = (
        await loyalty.call(
            "GET", f"/journal?gift_card={card['number'][:4]} {card['number'][4:]}", counter.staff
        )
    )[1]
    assert [line["kind"] for line in by_gift] == ["gift_card_redeem", "gift_card_sale"]
    assert (await loyalty.call("GET", "/journal?card=NOBODY", counter.admin))[1] == []
    assert (await loyalty.call("GET", "/journal", member))[0] == 403
    assert (await loyalty.call("GET", "/journal?limit=0", counter.admin))[0] == 422


async def test_points_expired_count_for_the_shop_their_customer_registered_at(
    loyalty: Any, db: asyncpg.Connection
) -> None:
    counter = Counter(loyalty)
    await counter.open_shop()
    await counter.rule(PER_EURO)
    home, elsewhere = counter.shop_id, str(uuid.uuid4())
    await counter.open_shop(elsewhere)
    ours = await counter.customer("EXP1")
    counter.shop_id = elsewhere
    theirs = await counter.customer("EXP2")
    counter.shop_id = home
    for account_id, card in ((ours, "EXP1"), (theirs, "EXP2")):
        await counter.record(card, purchase(3000))  # 30 points each
        await store.open_account(db, counter.tenant, account_id)
        await store.post_entry(db, counter.tenant, account_id, "expire", -10, "expiry", "2026-03-02")
    today = datetime.now(UTC).date()

    def expired(board: dict[str, Any]) -> int:
        return int(board["totals"]["points_expired"])

    everyone = (await loyalty.call("GET", f"/dashboard?until={today}", counter.admin))[1]
    ours_only = (await loyalty.call("GET", f"/dashboard?until={today}&shop_id={home}", counter.admin))[1]
    assert (expired(everyone), expired(ours_only)) == (20, 10)
