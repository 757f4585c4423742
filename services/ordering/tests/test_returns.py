"""Returns and claims on the fast tier: goods of a delivered order asked back (part of a line's
quantity too, never more than was ordered), photos told by their bytes, the admin's queue with the
overdue ones first, and her decision: accepted (credited to the balance, announced for loyalty) or
refused, once."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from services.ordering.tests.conftest import Caller, Ordering
from services.ordering.tests.test_checkout import FRIDAY, WEDNESDAY, shop  # noqa: F401 - a fixture

pytestmark = pytest.mark.fast

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def return_events(ordering: Ordering, event_type: str) -> list[dict[str, Any]]:
    rows = await ordering.db.fetch(
        "SELECT convert_from(payload, 'UTF8')::jsonb AS event FROM outbox WHERE topic = 'ordering.return.v1'"
        " AND convert_from(payload, 'UTF8')::jsonb ->> 'type' = $1 ORDER BY id",
        event_type,
    )
    return [json.loads(row["event"]) for row in rows]


async def delivered(ordering: Ordering, *lines: tuple[str, int]) -> dict[str, Any]:
    """An order of partner A, delivered (the ERP said so)."""
    status, placed = await ordering.submit(
        ordering.partner_a,
        [{"code": code, "quantity": quantity} for code, quantity in lines],
        delivery_date=FRIDAY.isoformat(),
        accept_terms=True,
    )
    assert status == 201, placed
    status, moved, _ = await ordering.call(
        "POST", f"/orders/{placed['order_id']}/status", ordering.admin_a, {"status": "delivered"}
    )
    assert status == 200, moved
    return dict(moved)


async def ask(
    ordering: Ordering, order: dict[str, Any], *lines: tuple[str, int], caller: Caller | None = None
) -> tuple[int, Any]:
    body = {"lines": [{"code": c, "quantity": q} for c, q in lines], "reason": "Damaged in transit"}
    status, answer, _ = await ordering.call(
        "POST",
        f"/orders/{order['order_id']}/returns",
        caller or ordering.partner_a,
        body,
        key=str(uuid.uuid4()),
    )
    return status, answer


async def upload(
    ordering: Ordering, return_id: str, content: bytes, caller: Caller | None = None
) -> tuple[int, Any]:
    headers = ordering.service.tokens.headers(**(caller or ordering.partner_a))
    async with ordering.service.http.post(
        f"{ordering.service.url}/returns/{return_id}/photos", data=content, headers=headers
    ) as answer:
        return answer.status, await answer.json(content_type=None)


async def test_part_of_a_delivered_order_goes_back_never_more_than_was_ordered(shop: Ordering) -> None:  # noqa: F811
    order = await delivered(shop, ("CREAM", 3), ("BALM", 2))

    status, first = await ask(shop, order, ("cream", 1))

    assert status == 201, first
    assert (first["status"], first["overdue"]) == ("requested", False)
    assert [(line["code"], line["quantity"]) for line in first["lines"]] == [("CREAM", 1)]
    assert first["amount_minor"] == 1999 + 400  # 19.99 + 20 % VAT, rounded half up
    assert first["due_at"] == (WEDNESDAY + timedelta(days=7)).isoformat().replace("+00:00", "Z")

    status, problem = await ask(shop, order, ("CREAM", 3))
    assert status == 422
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [("lines.0.quantity", "too-many")]
    status, problem = await ask(shop, order, ("BALM", 1), ("NOPE", 1))
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [("lines.1.code", "not-on-order")]
    status, second = await ask(shop, order, ("CREAM", 2), ("BALM", 2))
    assert status == 201, second
    status, _ = await ask(shop, order, ("CREAM", 1))
    assert status == 422  # all three asked back already
    requested = await return_events(shop, "ordering.return.opened")
    assert [e["data"]["amount_minor"] for e in requested] == [2399, 2 * 2399 + 1001 * 2 + 110]


async def test_goods_of_an_order_not_delivered_do_not_go_back(shop: Ordering) -> None:  # noqa: F811
    status, placed = await shop.submit(
        shop.partner_a,
        [{"code": "CREAM", "quantity": 1}],
        delivery_date=FRIDAY.isoformat(),
        accept_terms=True,
    )
    assert status == 201
    status, problem = await ask(shop, placed, ("CREAM", 1))
    assert (status, problem["order_status"]) == (409, "confirmed")
    assert await shop.db.fetchval("SELECT count(*) FROM returns") == 0


async def test_photos_are_images_told_by_their_bytes_within_limits(shop: Ordering) -> None:  # noqa: F811
    order = await delivered(shop, ("CREAM", 1))
    _, asked = await ask(shop, order, ("CREAM", 1))
    return_id = asked["return_id"]

    status, photo = await upload(shop, return_id, PNG)
    assert (status, photo["content_type"]) == (201, "image/png")
    status, problem = await upload(shop, return_id, b"%PDF-1.7 not an image")
    assert (status, problem["type"]) == (415, "urn:comptoir:problem:unsupported-file-type")
    status, problem = await upload(shop, return_id, PNG + b"\x00" * (5 * 1_048_576))
    assert status == 413
    for _ in range(4):
        assert (await upload(shop, return_id, PNG))[0] == 201
    status, problem = await upload(shop, return_id, PNG)
    assert (status, problem["type"]) == (409, "urn:comptoir:problem:too-many-photos")
    status, _, _ = await shop.call("GET", f"/returns/{return_id}", shop.partner_a2)
    assert status == 404  # another buyer's return is none of hers

    headers = shop.service.tokens.headers(**shop.admin_a)
    async with shop.service.http.get(
        f"{shop.service.url}/returns/{return_id}/photos/{photo['photo_id']}", headers=headers
    ) as answer:
        assert (answer.status, answer.content_type, await answer.read()) == (200, "image/png", PNG)


async def test_the_admin_accepts_once_and_the_balance_is_credited_or_refuses_with_a_reason(
    shop: Ordering,  # noqa: F811
) -> None:
    order = await delivered(shop, ("CREAM", 3))
    _, kept = await ask(shop, order, ("CREAM", 1))
    _, refused = await ask(shop, order, ("CREAM", 1))
    accept = f"/returns/{kept['return_id']}/accept"

    assert (await shop.call("POST", accept, shop.partner_a, {}))[0] == 403
    status, decided, _ = await shop.call("POST", accept, shop.admin_a, {}, key=str(uuid.uuid4()))
    assert (status, decided["status"]) == (200, "accepted")
    status, problem, _ = await shop.call("POST", accept, shop.admin_a, {}, key=str(uuid.uuid4()))
    assert (status, problem["return_status"]) == (409, "accepted")
    status, held, _ = await shop.call("GET", "/balance", shop.partner_a)
    assert held["balance_minor"] == 2399
    assert (held["entries"][0]["kind"], held["entries"][0]["order_id"]) == ("return", order["order_id"])
    [event] = await return_events(shop, "ordering.return.accepted")
    assert (event["data"]["returned_goods_minor"], event["data"]["order_goods_minor"]) == (1999, 5997)
    assert event["data"]["credited_minor"] == 2399

    path = f"/returns/{refused['return_id']}/refuse"
    status, problem, _ = await shop.call("POST", path, shop.admin_a, {"reason": ""})
    assert status == 422
    status, decided, _ = await shop.call("POST", path, shop.admin_a, {"reason": "The jar was opened"})
    assert (status, decided["status"], decided["refusal"]) == (200, "refused", "The jar was opened")
    [event] = await return_events(shop, "ordering.return.refused")
    assert event["data"]["reason"] == "The jar was opened"
    status, held, _ = await shop.call("GET", "/balance", shop.partner_a)
    assert held["balance_minor"] == 2399  # a refusal credits nothing
    status, _ = await ask(shop, order, ("CREAM", 2))
    assert status == 201  # what was refused may be asked again


async def test_the_admins_queue_shows_the_overdue_first(shop: Ordering) -> None:  # noqa: F811
    order = await delivered(shop, ("CREAM", 3))
    _, older = await ask(shop, order, ("CREAM", 1))
    shop.clock.stopped_at = WEDNESDAY + timedelta(days=3)
    _, newer = await ask(shop, order, ("CREAM", 1))
    shop.clock.stopped_at = WEDNESDAY + timedelta(days=8)  # the first is a day overdue
    _, decided = await ask(shop, order, ("CREAM", 1))
    await shop.call("POST", f"/returns/{decided['return_id']}/refuse", shop.admin_a, {"reason": "No"})

    status, queue, _ = await shop.call("GET", "/returns", shop.admin_a)
    assert status == 200
    assert [(r["return_id"], r["overdue"]) for r in queue] == [
        (older["return_id"], True),
        (newer["return_id"], False),
        (decided["return_id"], False),
    ]
    status, waiting, _ = await shop.call("GET", "/returns?status=requested", shop.admin_a)
    assert len(waiting) == 2
    status, mine, _ = await shop.call("GET", "/returns", shop.partner_a2)
    assert (status, mine) == (200, [])
