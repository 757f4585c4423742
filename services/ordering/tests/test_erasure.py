"""What ordering forgets when identity deletes an account: orders stay, the person's data goes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping

import pytest

from libs.common.events import Envelope
from services.ordering.tests.conftest import Ordering
from tests.contracts.examples import example_event

pytestmark = pytest.mark.fast

HOME = {
    "recipient": "Claire Dupont",
    "line1": "12 rue des Lilas",
    "postal_code": "69004",
    "city": "Lyon",
    "phone": "+33612345678",
}


async def test_a_deleted_account_keeps_its_orders_without_its_personal_data(ordering: Ordering) -> None:
    seller = {"account_id": "seller-1", "tenant_id": ordering.tenant_a, "roles": ["seller"]}
    await ordering.publish(ordering.product(uuid.uuid4(), "MUG", 1250))
    status, _, _ = await ordering.call("POST", "/addresses", seller, {"address": HOME, "is_default": True})
    assert status == 201
    status, placed = await ordering.submit(
        seller, [{"code": "MUG", "quantity": 1}], instructions="Ring twice, Claire", key="k-1"
    )
    assert status == 201, placed
    assert placed["checkout"]["choices"]["address"]["line1"] == "12 rue des Lilas"
    await ordering.call("POST", "/cart/lines", seller, {"lines": [{"code": "MUG"}]})
    await ordering.call("POST", "/checkout/quotes", seller, {"address": HOME, "keep_address": True})
    await ordering.submit(seller, [{"code": "MUG", "quantity": 1}], address=HOME, keep_address=True)
    # Paid partly with a gift card: its number and PIN went to loyalty on the internal topic.
    status, quote, _ = await ordering.call(
        "POST",
        "/checkout/quotes",
        seller,
        {"lines": [{"code": "MUG", "quantity": 1}], "gift_card_minor": 500},
    )
    card = {"number": "4839201756482913", "pin": "482913"}
    status, _, _ = await ordering.call(
        "POST", f"/checkout/quotes/{quote['quote_id']}/confirm", seller, {"gift_card": card}
    )
    assert status == 201
    # A claim on a delivered order, with her words and a photo.
    await ordering.call(
        "POST", f"/orders/{placed['order_id']}/status", ordering.admin_a, {"status": "delivered"}
    )
    status, asked, _ = await ordering.call(
        "POST",
        f"/orders/{placed['order_id']}/returns",
        seller,
        {"lines": [{"code": "MUG", "quantity": 1}], "reason": "Broken, says Claire"},
        key="k-2",
    )
    assert status == 201, asked
    async with ordering.service.http.post(
        f"{ordering.service.url}/returns/{asked['return_id']}/photos",
        data=b"\xff\xd8\xff\xe0 a jpeg",
        headers=ordering.service.tokens.headers(**seller),
    ) as answer:
        assert answer.status == 201
    # Someone else's data stays.
    await ordering.call(
        "POST", "/addresses", ordering.validator_a, {"address": {**HOME, "line1": "1 place Bellecour"}}
    )

    deleted = example_event(
        "identity.account.deleted", ordering.tenant_a, subject="seller-1", account_id="seller-1"
    )
    await ordering.publish(deleted)
    await ordering.publish(deleted.model_copy(update={"id": uuid.uuid4()}))  # again: nothing more to do

    orders = await ordering.db.fetch(
        "SELECT checkout FROM orders WHERE tenant_id = $1 AND account_id = 'seller-1'", ordering.tenant_a
    )
    assert len(orders) == 3  # kept for accounting
    for row in orders:
        choices = json.loads(row["checkout"])["choices"]
        assert (choices["address"], choices["instructions"]) == (None, None)
    for table in ("quotes", "address_requests", "cart_lines", "memberships"):
        assert (
            await ordering.db.fetchval(
                f"SELECT count(*) FROM {table} WHERE tenant_id = $1 AND account_id = 'seller-1'",
                ordering.tenant_a,
            )
            == 0
        )
    left = await ordering.db.fetchval(
        "SELECT count(*) FROM addresses WHERE tenant_id = $1", ordering.tenant_a
    )
    assert left == 1  # the organisation's
    assert await ordering.db.fetchval("SELECT count(*) FROM return_photos") == 0
    assert await ordering.db.fetchval("SELECT reason FROM returns") == ""  # the return itself stays
    for value in (
        "12 rue des Lilas",
        "Claire Dupont",
        "+33612345678",
        "Ring twice, Claire",
        "Broken, says Claire",
        "4839201756482913",
    ):
        holding = await ordering.db.fetchval(
            "SELECT (SELECT count(*) FROM outbox WHERE position(convert_to($1, 'UTF8') IN payload) > 0)"
            " + (SELECT count(*) FROM idempotency_keys WHERE strpos(response::text, $1) > 0)",
            value,
        )
        assert holding == 0, value


def contact(tenant_id: str, account_id: str, address: Mapping[str, object] | None) -> Envelope:
    return example_event(
        "identity.contact.changed",
        tenant_id,
        subject=account_id,
        account_id=account_id,
        display_name="Claire Dupont",
        address=address,
    )


async def test_a_consultants_book_starts_from_her_identity_address_and_follows_it(ordering: Ordering) -> None:
    seller = {"account_id": "seller-2", "tenant_id": ordering.tenant_a, "roles": ["seller"]}
    home = {
        "line1": "12 rue des Lilas",
        "line2": None,
        "postal_code": "69004",
        "city": "Lyon",
        "country": "FR",
    }
    await ordering.publish(contact(ordering.tenant_a, "seller-2", home))
    _, book, _ = await ordering.call("GET", "/addresses", seller)
    assert [(e["address"]["line1"], e["address"]["recipient"], e["is_default"]) for e in book] == [
        ("12 rue des Lilas", "Claire Dupont", True)
    ]
    moved = {**home, "line1": "3 quai Saint-Vincent"}
    await ordering.publish(contact(ordering.tenant_a, "seller-2", moved))
    _, book, _ = await ordering.call("GET", "/addresses", seller)
    assert [e["address"]["line1"] for e in book] == ["3 quai Saint-Vincent"]

    deleted = example_event(
        "identity.account.deleted", ordering.tenant_a, subject="seller-2", account_id="seller-2"
    )
    await ordering.publish(deleted)
    await ordering.publish(contact(ordering.tenant_a, "seller-2", home))  # late, on another topic
    assert (
        await ordering.db.fetchval(
            "SELECT count(*) FROM addresses WHERE tenant_id = $1 AND owner_id = 'seller-2'", ordering.tenant_a
        )
        == 0
    )
