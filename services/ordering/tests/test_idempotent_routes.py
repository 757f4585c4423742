"""Every route of ordering declared idempotent, replayed with its key: the first answer again, and
nothing changed. A route declared idempotent without a recipe here fails the first test."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest

from libs.devstack.testing import Replayable, assert_replayed_once, idempotent_routes
from services.ordering.app import Settings, build_spec
from services.ordering.tests.conftest import Ordering
from tests.contracts.examples import example_event

pytestmark = pytest.mark.fast


async def _order(ordering: Ordering) -> Replayable:
    await ordering.publish(ordering.product(uuid.uuid4(), "MUG", 1250))
    headers = ordering.service.tokens.headers(**ordering.partner_a)
    return Replayable("POST", "/orders", headers, json={"lines": [{"code": "MUG", "quantity": 2}]})


async def _add_to_cart(ordering: Ordering) -> Replayable:
    await ordering.publish(ordering.product(uuid.uuid4(), "MUG", 1250))
    headers = ordering.service.tokens.headers(**ordering.partner_a)
    return Replayable("POST", "/cart/lines", headers, json={"lines": [{"code": "MUG", "quantity": 2}]})


async def _reorder(ordering: Ordering) -> Replayable:
    await ordering.publish(ordering.product(uuid.uuid4(), "MUG", 1250))
    status, order = await ordering.submit(ordering.partner_a, [{"code": "MUG", "quantity": 2}])
    assert status == 201, order
    headers = ordering.service.tokens.headers(**ordering.partner_a)
    return Replayable("POST", f"/orders/{order['order_id']}/reorder", headers)


async def _cart_with_a_mug(ordering: Ordering) -> dict[str, str]:
    await ordering.publish(ordering.product(uuid.uuid4(), "MUG", 1250))
    await ordering.call("POST", "/cart/lines", ordering.partner_a, {"lines": [{"code": "MUG"}]})
    return ordering.service.tokens.headers(**ordering.partner_a)


async def _save_template(ordering: Ordering) -> Replayable:
    headers = await _cart_with_a_mug(ordering)
    return Replayable("POST", "/cart/templates", headers, json={"name": "Weekly"})


async def _load_template(ordering: Ordering) -> Replayable:
    headers = await _cart_with_a_mug(ordering)
    _, template, _ = await ordering.call("POST", "/cart/templates", ordering.partner_a, {"name": "Weekly"})
    return Replayable("POST", f"/cart/templates/{template['template_id']}/load", headers)


def _as(ordering: Ordering, caller: dict[str, object]) -> dict[str, str]:
    return ordering.service.tokens.headers(**caller)


async def _placed(ordering: Ordering) -> str:
    await ordering.publish(ordering.product(uuid.uuid4(), "MUG", 1250))
    status, order = await ordering.submit(ordering.partner_a, [{"code": "MUG", "quantity": 2}])
    assert status == 201, order
    return str(order["order_id"])


async def _quote(ordering: Ordering) -> Replayable:
    headers = await _cart_with_a_mug(ordering)
    return Replayable("POST", "/checkout/quotes", headers, json={"reference": "PO-1"})


async def _confirm(ordering: Ordering) -> Replayable:
    headers = await _cart_with_a_mug(ordering)
    _, quote, _ = await ordering.call("POST", "/checkout/quotes", ordering.partner_a, {})
    return Replayable("POST", f"/checkout/quotes/{quote['quote_id']}/confirm", headers, json={})


async def _cancel(ordering: Ordering) -> Replayable:
    order_id = await _placed(ordering)
    return Replayable("POST", f"/orders/{order_id}/cancel", _as(ordering, ordering.partner_a), json={})


async def _ship(ordering: Ordering) -> Replayable:
    order_id = await _placed(ordering)
    body = {"status": "shipped", "erp_order_number": "SO-1"}
    return Replayable("POST", f"/orders/{order_id}/status", _as(ordering, ordering.admin_a), json=body)


ADDRESS = {"recipient": "Pharmacie", "line1": "2 place du Marché", "postal_code": "69002", "city": "Lyon"}


async def _pickup_point(ordering: Ordering) -> Replayable:
    body = {"name": "Centre", "address": ADDRESS}
    return Replayable("POST", "/pickup-points", _as(ordering, ordering.admin_a), json=body)


async def _address(ordering: Ordering) -> Replayable:
    return Replayable("POST", "/addresses", _as(ordering, ordering.validator_a), json={"address": ADDRESS})


async def _accept_address(ordering: Ordering) -> Replayable:
    await ordering.publish(ordering.product(uuid.uuid4(), "MUG", 1250))
    lines = [{"code": "MUG", "quantity": 1}]
    status, order = await ordering.submit(ordering.partner_a, lines, address=ADDRESS, keep_address=True)
    assert status == 201, order
    _, [asked], _ = await ordering.call("GET", "/address-requests", ordering.admin_a)
    path = f"/address-requests/{asked['request_id']}/accept"
    return Replayable("POST", path, _as(ordering, ordering.admin_a))


async def _waiting(ordering: Ordering) -> str:
    """An order of partner A waiting for approval (organisation org-1 holds every order)."""
    await ordering.publish(
        example_event(
            "identity.organisation.created", ordering.tenant_a, subject="org-1", organisation_id="org-1"
        )
    )
    status, _, _ = await ordering.call(
        "PUT", "/organisations/org-1/approval-policy", ordering.admin_a, {"threshold_minor": 0}
    )
    assert status == 200
    order_id = await _placed(ordering)
    return order_id


async def _approve(ordering: Ordering) -> Replayable:
    order_id = await _waiting(ordering)
    body = {"version": 1}
    return Replayable("POST", f"/orders/{order_id}/approve", _as(ordering, ordering.validator_a), json=body)


async def _refuse(ordering: Ordering) -> Replayable:
    order_id = await _waiting(ordering)
    body = {"version": 1, "reason": "Budget"}
    return Replayable("POST", f"/orders/{order_id}/refuse", _as(ordering, ordering.validator_a), json=body)


async def _modify(ordering: Ordering) -> Replayable:
    order_id = await _waiting(ordering)
    body = {"version": 1, "lines": [{"code": "MUG", "quantity": 1}]}
    return Replayable("POST", f"/orders/{order_id}/modify", _as(ordering, ordering.validator_a), json=body)


async def _top_up(ordering: Ordering) -> Replayable:
    """A top-up started: replayed, it answers the same payment and its page, and asks the provider once."""
    body = {"amount_minor": 5000}
    return Replayable("POST", "/balance/top-ups", _as(ordering, ordering.partner_a), json=body)


async def _delivered(ordering: Ordering) -> str:
    """A delivered order of partner A (two mugs)."""
    order_id = await _placed(ordering)
    status, _, _ = await ordering.call(
        "POST", f"/orders/{order_id}/status", ordering.admin_a, {"status": "delivered"}
    )
    assert status == 200
    return order_id


async def _request_return(ordering: Ordering) -> Replayable:
    order_id = await _delivered(ordering)
    body = {"lines": [{"code": "MUG", "quantity": 1}], "reason": "Chipped"}
    return Replayable("POST", f"/orders/{order_id}/returns", _as(ordering, ordering.partner_a), json=body)


async def _asked_return(ordering: Ordering) -> str:
    order_id = await _delivered(ordering)
    body = {"lines": [{"code": "MUG", "quantity": 1}], "reason": "Chipped"}
    status, asked, _ = await ordering.call("POST", f"/orders/{order_id}/returns", ordering.partner_a, body)
    assert status == 201, asked
    return str(asked["return_id"])


async def _accept_return(ordering: Ordering) -> Replayable:
    path = f"/returns/{await _asked_return(ordering)}/accept"
    return Replayable("POST", path, _as(ordering, ordering.admin_a), json={})


async def _refuse_return(ordering: Ordering) -> Replayable:
    path = f"/returns/{await _asked_return(ordering)}/refuse"
    return Replayable("POST", path, _as(ordering, ordering.admin_a), json={"reason": "Opened"})


async def _pay_instalment(ordering: Ordering) -> Replayable:
    """An order in instalments: replayed, paying its first answers the same payment and page."""
    await ordering.call("PUT", "/checkout/settings", ordering.admin_a, {"payment_modes": ["instalments"]})
    await ordering.publish(ordering.product(uuid.uuid4(), "MUG", 1250))
    lines = [{"code": "MUG", "quantity": 2}]
    status, order = await ordering.submit(ordering.partner_a, lines, payment_mode="instalments")
    assert status == 201, order
    path = f"/orders/{order['order_id']}/instalments/pay"
    return Replayable("POST", path, _as(ordering, ordering.partner_a), json={})


RECIPES: dict[tuple[str, str], Callable[[Ordering], Awaitable[Replayable]]] = {
    ("POST", "/orders"): _order,
    ("POST", "/cart/lines"): _add_to_cart,
    ("POST", "/orders/{order_id}/reorder"): _reorder,
    ("POST", "/cart/templates"): _save_template,
    ("POST", "/cart/templates/{template_id}/load"): _load_template,
    ("POST", "/checkout/quotes"): _quote,
    ("POST", "/checkout/quotes/{quote_id}/confirm"): _confirm,
    ("POST", "/orders/{order_id}/cancel"): _cancel,
    ("POST", "/orders/{order_id}/status"): _ship,
    ("POST", "/pickup-points"): _pickup_point,
    ("POST", "/addresses"): _address,
    ("POST", "/address-requests/{request_id}/accept"): _accept_address,
    ("POST", "/orders/{order_id}/approve"): _approve,
    ("POST", "/orders/{order_id}/refuse"): _refuse,
    ("POST", "/orders/{order_id}/modify"): _modify,
    ("POST", "/balance/top-ups"): _top_up,
    ("POST", "/orders/{order_id}/returns"): _request_return,
    ("POST", "/returns/{return_id}/accept"): _accept_return,
    ("POST", "/returns/{return_id}/refuse"): _refuse_return,
    ("POST", "/orders/{order_id}/instalments/pay"): _pay_instalment,
}


def test_every_idempotent_route_has_a_recipe() -> None:
    assert set(RECIPES) == idempotent_routes(build_spec(Settings()))


@pytest.mark.parametrize("route", sorted(RECIPES), ids=" ".join)
async def test_a_replay_answers_the_first_result_and_changes_nothing(
    route: tuple[str, str], ordering: Ordering
) -> None:
    request = await RECIPES[route](ordering)
    await assert_replayed_once(ordering.service.http, ordering.service.url, request, ordering.service.db)
