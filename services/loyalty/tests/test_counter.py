"""The shop counter on the fast tier: staff find a customer by her card, record visits and purchases,
and the tenant's versioned earning rules award them; the welcome of a new card; the customer's card
as a QR code; who may do what, and bad input that changes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.loyalty.tests.conftest import Caller, Loyalty
from tests.contracts.examples import example_event, topic_of

pytestmark = pytest.mark.fast

PER_EURO = {"name": "1 point per euro", "earns": "per_amount", "points": 1}
EVERY_THIRD = {"name": "Third visit", "earns": "nth_visit", "points": 10, "every": 3}
WELCOME = {"name": "Welcome", "earns": "welcome", "points": 50, "welcome_at": "card"}


class Counter:
    """A tenant with a shop, its staff, and customers with cards, as identity and catalog announce them."""

    def __init__(self, loyalty: Loyalty) -> None:
        self.loyalty = loyalty
        self.tenant = loyalty.tenant_a
        self.shop_id = str(uuid.uuid4())
        self.staff: Caller = {
            "account_id": "staff-1",
            "tenant_id": self.tenant,
            "roles": ["shop"],
            "organisation_id": self.shop_id,
        }
        self.admin = loyalty.admin_a

    async def announce(self, event_type: str, subject: str, **fields: Any) -> None:
        event = example_event(event_type, self.tenant, subject=subject, **fields)
        await self.loyalty.service.publish(topic_of(event_type), event)

    async def open_shop(self, shop_id: str | None = None, kind: str = "shop") -> str:
        shop_id = shop_id or self.shop_id
        await self.announce(
            "identity.organisation.created", shop_id, organisation_id=shop_id, name="Bellecour", kind=kind
        )
        return shop_id

    async def customer(self, card: str, *, professional: bool = False, at: datetime | None = None) -> str:
        account_id = f"customer-{card}"
        await self.announce(
            "identity.account.facts_changed",
            account_id,
            account_id=account_id,
            roles=["customer"],
            card_number=card,
            professional=professional,
            shop_id=self.shop_id,
            sponsor_id=None,
            changed_at=at or datetime.now(UTC),
        )
        return account_id

    async def rule(self, spec: dict[str, Any]) -> dict[str, Any]:
        status, rule = await self.loyalty.call("POST", "/counter/rules", self.admin, spec)
        assert status == 201, rule
        return dict(rule)

    async def record(self, card: str, body: dict[str, Any], caller: Caller | None = None) -> tuple[int, Any]:
        return await self.loyalty.call("POST", f"/cards/{card}/visits", caller or self.staff, body)

    async def visits(self) -> int:
        return int(
            await self.loyalty.db.fetchval("SELECT count(*) FROM visits WHERE tenant_id = $1", self.tenant)
        )


@pytest.fixture
async def counter(loyalty: Loyalty) -> Counter:
    shop = Counter(loyalty)
    await shop.open_shop()
    return shop


def purchase(amount_minor: int, **fields: Any) -> dict[str, Any]:
    return {"kind": "purchase", "amount_minor": amount_minor} | fields


async def test_staff_find_a_customer_by_her_card_and_a_purchase_earns_under_the_rules(
    counter: Counter,
) -> None:
    per_euro = await counter.rule(PER_EURO)
    await counter.rule(EVERY_THIRD)
    account_id = await counter.customer("4970000000000001")

    status, card = await counter.loyalty.call("GET", "/cards/4970000000000001", counter.staff)
    assert status == 200 and card["account_id"] == account_id and card["balance"] == 0
    assert card["shop_id"] == counter.shop_id and card["visits"] == []

    status, first = await counter.record("4970000000000001", purchase(4590))
    assert status == 201, first
    assert (first["points"], first["balance"], first["number"], first["shop_id"]) == (
        45,
        45,
        1,
        counter.shop_id,
    )
    await counter.record("4970000000000001", {"kind": "visit"})  # a scan: the per-euro rule gives nothing
    status, third = await counter.record("4970000000000001", purchase(1000))
    assert (third["points"], third["balance"], third["number"]) == (20, 65, 3)  # 10 + the third visit's 10

    entries = await counter.loyalty.ledger(
        {"account_id": account_id, "tenant_id": counter.tenant, "roles": []}
    )
    assert [e["points"] for e in entries] == [20, 45]
    [visit, _, _] = (await counter.loyalty.call("GET", "/cards/4970000000000001", counter.staff))[1]["visits"]
    assert visit["points"] == 20
    # The entry names the rules and versions that made it.
    rules = await counter.loyalty.db.fetchval(
        "SELECT rules::text FROM ledger WHERE tenant_id = $1 AND points = 45", counter.tenant
    )
    assert per_euro["rule_id"] in rules and '"version": 1' in rules


async def test_changing_a_rule_is_a_new_version_and_never_changes_past_entries(counter: Counter) -> None:
    rule = await counter.rule(PER_EURO)
    await counter.customer("4970000000000002")
    await counter.record("4970000000000002", purchase(2000))

    status, changed = await counter.loyalty.call(
        "PUT", f"/counter/rules/{rule['rule_id']}", counter.admin, PER_EURO | {"points": 3}
    )
    assert status == 200 and changed["version"] == 2
    status, second = await counter.record("4970000000000002", purchase(2000))
    assert (second["points"], second["balance"]) == (60, 80)  # 20 earned under version 1 stay 20

    status, versions = await counter.loyalty.call("GET", f"/counter/rules/{rule['rule_id']}", counter.admin)
    assert [v["version"] for v in versions] == [2, 1] and versions[1]["spec"]["points"] == 1
    status, retired = await counter.loyalty.call("DELETE", f"/counter/rules/{rule['rule_id']}", counter.admin)
    assert status == 200 and retired["retired"] and retired["version"] == 3
    assert (await counter.record("4970000000000002", purchase(2000)))[1]["points"] == 0
    assert (await counter.loyalty.call("GET", "/counter/rules", counter.admin))[1] == []
    listed = (await counter.loyalty.call("GET", "/counter/rules?retired=true", counter.admin))[1]
    assert [r["version"] for r in listed] == [3]


async def test_conditions_professionals_shops_amounts_categories_and_brands(counter: Counter) -> None:
    cosmetics, food = str(uuid.uuid4()), str(uuid.uuid4())
    brand = str(uuid.uuid4())
    cream = str(uuid.uuid4())
    await counter.announce(
        "catalog.product.created", cream, product_id=cream, category_id=cosmetics, brand_id=brand, version=1
    )
    other_shop = await counter.open_shop(str(uuid.uuid4()))
    await counter.rule({"name": "Pros", "earns": "per_visit", "points": 5, "professionals_only": True})
    await counter.rule({"name": "Here", "earns": "per_visit", "points": 1, "shop_ids": [other_shop]})
    await counter.rule({"name": "Big", "earns": "per_visit", "points": 7, "min_amount_minor": 10000})
    await counter.rule(
        {"name": "No food", "earns": "percent", "percent_bp": 1000, "categories_excluded": [food]}
    )
    await counter.rule({"name": "Brand", "earns": "per_visit", "points": 100, "brands_included": [brand]})
    await counter.customer("PRO1", professional=True)
    await counter.customer("CARD2")

    assert (await counter.record("PRO1", {"kind": "visit"}))[1]["points"] == 5
    assert (await counter.record("CARD2", {"kind": "visit"}))[1]["points"] == 0
    assert (await counter.record("CARD2", purchase(10000)))[1]["points"] == 7 + 10  # 10 % of 100 €
    assert (await counter.record("CARD2", purchase(10000, categories=[food])))[1]["points"] == 7
    # A product brings its category and brand: the brand's rule applies.
    assert (await counter.record("CARD2", purchase(2000, products=[cream])))[1]["points"] == 100 + 2
    admin_at_other = counter.admin
    status, visit = await counter.record("CARD2", {"kind": "visit", "shop_id": other_shop}, admin_at_other)
    assert status == 201 and visit["points"] == 1 and visit["shop_id"] == other_shop


async def test_a_new_card_earns_the_welcome_once_and_a_first_purchase_its_own(counter: Counter) -> None:
    await counter.rule(WELCOME)
    await counter.rule({"name": "First", "earns": "welcome", "points": 20, "welcome_at": "first_purchase"})
    account_id = await counter.customer("W1")
    await counter.customer("W1", at=datetime.now(UTC) + timedelta(seconds=1))  # her facts again: no second

    card = (await counter.loyalty.call("GET", "/cards/W1", counter.staff))[1]
    assert card["balance"] == 50
    assert (await counter.record("W1", {"kind": "visit"}))[1]["points"] == 0
    assert (await counter.record("W1", purchase(100)))[1]["points"] == 20
    assert (await counter.record("W1", purchase(100)))[1]["points"] == 0
    causes = await counter.loyalty.db.fetch(
        "SELECT cause_type FROM ledger WHERE tenant_id = $1 AND account_id = $2 ORDER BY seq",
        counter.tenant,
        account_id,
    )
    assert [c["cause_type"] for c in causes] == ["welcome", "visit"]


async def test_staff_reach_only_their_tenants_cards_and_members_only_their_own(counter: Counter) -> None:
    account_id = await counter.customer("4970000000000003")
    other_staff = counter.staff | {"tenant_id": counter.loyalty.tenant_b}
    customer = {"account_id": account_id, "tenant_id": counter.tenant, "roles": ["customer"]}

    assert (await counter.loyalty.call("GET", "/cards/4970000000000003", other_staff))[0] == 404
    assert (await counter.record("4970000000000003", {"kind": "visit"}, other_staff))[0] == 404
    assert (await counter.loyalty.call("GET", "/cards/4970000000000003", customer))[0] == 403
    assert (await counter.loyalty.call("GET", "/cards/0000000000000000", counter.staff))[0] == 404
    assert (await counter.loyalty.call("GET", f"/accounts/{account_id}", counter.staff))[0] == 404
    assert (await counter.loyalty.call("POST", "/counter/rules", counter.staff, PER_EURO))[0] == 403
    # Staff of one shop cannot record at another; the journal shows them their shop's only.
    status, problem = await counter.record("4970000000000003", {"kind": "visit", "shop_id": "elsewhere"})
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["shop_id"]
    await counter.record("4970000000000003", {"kind": "visit"})
    await counter.record("4970000000000003", {"kind": "visit"}, counter.admin)
    journal = (await counter.loyalty.call("GET", "/visits", counter.staff))[1]
    assert [v["shop_id"] for v in journal] == [counter.shop_id]
    assert len((await counter.loyalty.call("GET", "/visits", counter.admin))[1]) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "visit", "amount_minor": 100}, "kind"),
        ({"kind": "purchase", "amount_minor": -1}, "amount_minor"),
        ({"kind": "purchase", "amount_minor": 100, "products": ["not-a-product"]}, "products"),
        ({"kind": "sale"}, "kind"),
        ({"kind": "purchase", "amount_minor": 100, "currency": "euro"}, "currency"),
        ({"kind": "visit", "extra": 1}, "extra"),
    ],
)
async def test_a_bad_visit_is_a_422_naming_the_field_and_records_nothing(
    counter: Counter, body: dict[str, Any], field: str
) -> None:
    await counter.rule(PER_EURO)
    await counter.customer("4970000000000004")

    status, problem = await counter.record("4970000000000004", body)

    assert status == 422 and [e["field"] for e in problem["errors"]] == [field], problem
    assert await counter.visits() == 0


async def test_a_bad_rule_is_a_422_naming_the_field(counter: Counter) -> None:
    for body, field in (
        (PER_EURO | {"points": -1}, "points"),
        (PER_EURO | {"earns": "everything"}, "earns"),
        ({"name": "Every", "earns": "nth_visit", "points": 5, "every": 1}, ""),
        (PER_EURO | {"shop_ids": ["x"] * 101}, "shop_ids"),
    ):
        status, problem = await counter.loyalty.call("POST", "/counter/rules", counter.admin, body)
        assert status == 422 and problem["errors"][0]["field"] == field, (body, problem)
    assert (await counter.loyalty.call("GET", "/counter/rules", counter.admin))[1] == []


async def test_a_deleted_members_card_is_forgotten(counter: Counter) -> None:
    await counter.rule(PER_EURO)
    account_id = await counter.customer("4970000000000005")
    await counter.record("4970000000000005", purchase(1000))

    member = {"account_id": account_id, "tenant_id": counter.tenant, "roles": ["customer"]}
    await counter.loyalty.service.publish(
        topic_of("identity.account.deleted"), counter.loyalty.deleted(member)
    )
    # Her card number is personal data: it is forgotten with her account.
    assert (await counter.loyalty.call("GET", "/cards/4970000000000005", counter.staff))[0] == 404
    assert (
        await counter.loyalty.db.fetchval(
            "SELECT card_number FROM members WHERE tenant_id = $1 AND account_id = $2",
            counter.tenant,
            account_id,
        )
        is None
    )


async def test_late_facts_change_nothing_and_a_card_moves_with_the_latest(counter: Counter) -> None:
    now = datetime.now(UTC)
    first = await counter.customer("MOVE1", at=now)
    await counter.customer("MOVE1", at=now - timedelta(minutes=1))  # the same, older: ignored
    second = "customer-other"
    await counter.announce(
        "identity.account.facts_changed",
        second,
        account_id=second,
        roles=["customer"],
        card_number="MOVE1",
        changed_at=now + timedelta(minutes=1),
    )
    assert (await counter.loyalty.call("GET", "/cards/move1", counter.staff))[1]["account_id"] == second
    assert first != second


async def test_a_customer_gets_her_card_as_a_qr_code_and_nobody_elses(counter: Counter) -> None:
    account_id = await counter.customer("4970000000000006")
    other = await counter.customer("4970000000000016")
    me = {"account_id": account_id, "tenant_id": counter.tenant, "roles": ["customer"]}

    assert await counter.loyalty.call("GET", "/accounts/me/card", me) == (
        200,
        {"card_number": "4970000000000006", "balance": 0},
    )
    service = counter.loyalty.service
    for caller in (me, counter.staff):
        async with service.http.get(
            service.url + "/cards/4970000000000006/qr.png", headers=service.tokens.headers(**caller)
        ) as resp:
            assert resp.status == 200 and resp.content_type == "image/png"
            assert (await resp.read()).startswith(b"\x89PNG")
    async with service.http.get(
        service.url + "/cards/4970000000000006/qr.svg", headers=service.tokens.headers(**me)
    ) as resp:
        # A standalone document: an <img> shows an SVG only with its namespace.
        assert resp.status == 200 and '<svg xmlns="http://www.w3.org/2000/svg"' in await resp.text()
    assert other != account_id
    assert (await counter.loyalty.call("GET", "/cards/4970000000000016/qr.png", me))[0] == 404
    nobody = me | {"account_id": "no-card"}
    assert await counter.loyalty.call("GET", "/accounts/me/card", nobody) == (
        200,
        {"card_number": None, "balance": 0},
    )


async def test_a_partners_organisation_is_not_a_shop(counter: Counter) -> None:
    partner = await counter.open_shop(str(uuid.uuid4()), kind="partner")
    await counter.customer("4970000000000007")
    status, problem = await counter.record(
        "4970000000000007", {"kind": "visit", "shop_id": partner}, counter.admin
    )
    assert status == 422 and problem["errors"][0]["type"] == "unknown_shop"
