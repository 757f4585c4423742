"""Every route of loyalty declared idempotent, replayed with its key: the first answer again, and
nothing changed. A route declared idempotent without a recipe here fails the first test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from libs.devstack.testing import Replayable, assert_replayed_once, idempotent_routes
from services.loyalty.app import Settings, build_spec
from services.loyalty.tests.conftest import Loyalty
from services.loyalty.tests.test_counter import PER_EURO, Counter
from services.loyalty.tests.test_rewards import TEN_OFF

pytestmark = pytest.mark.fast


async def _rule(loyalty: Loyalty) -> Replayable:
    headers = loyalty.service.tokens.headers(**loyalty.admin_a)
    return Replayable("POST", "/counter/rules", headers, json=PER_EURO)


async def _program(loyalty: Loyalty) -> Replayable:
    headers = loyalty.service.tokens.headers(**loyalty.admin_a)
    return Replayable("POST", "/counter/programs", headers, json=TEN_OFF)


async def _visit(loyalty: Loyalty) -> Replayable:
    counter = Counter(loyalty)
    await counter.open_shop()
    await counter.rule(PER_EURO)
    await counter.customer("4970000000000100")
    headers = loyalty.service.tokens.headers(**counter.staff)
    body = {"kind": "purchase", "amount_minor": 1250}
    return Replayable("POST", "/cards/4970000000000100/visits", headers, json=body)


async def _voucher(loyalty: Loyalty) -> Replayable:
    counter = Counter(loyalty)
    await counter.open_shop()
    await counter.rule(PER_EURO)
    account_id = await counter.customer("4970000000000200")
    await counter.record("4970000000000200", {"kind": "purchase", "amount_minor": 5000})
    status, program = await loyalty.call("POST", "/counter/programs", loyalty.admin_a, TEN_OFF)
    assert status == 201, program
    member = {"account_id": account_id, "tenant_id": counter.tenant, "roles": ["customer"]}
    headers = loyalty.service.tokens.headers(**member)
    return Replayable("POST", f"/rewards/{program['program_id']}/vouchers", headers)


async def _batch(loyalty: Loyalty) -> Replayable:
    headers = loyalty.service.tokens.headers(**loyalty.admin_a)
    return Replayable("POST", "/gift-cards/batches", headers, json={"label": "Noël", "count": 2})


async def _gift_card(loyalty: Loyalty) -> Replayable:
    counter = Counter(loyalty)
    await counter.open_shop()
    headers = loyalty.service.tokens.headers(**counter.staff)
    return Replayable("POST", "/gift-cards/sales", headers, json={"amount_minor": 5000})


async def _purchase(loyalty: Loyalty) -> Replayable:
    headers = loyalty.service.tokens.headers(**loyalty.member_a)
    return Replayable("POST", "/gift-cards/purchases", headers, json={"amount_minor": 3000})


RECIPES: dict[tuple[str, str], Callable[[Loyalty], Awaitable[Replayable]]] = {
    ("POST", "/counter/rules"): _rule,
    ("POST", "/counter/programs"): _program,
    ("POST", "/rewards/{program_id}/vouchers"): _voucher,
    ("POST", "/gift-cards/batches"): _batch,
    ("POST", "/gift-cards/sales"): _gift_card,
    ("POST", "/gift-cards/purchases"): _purchase,
    ("POST", "/cards/{number}/visits"): _visit,
}


def test_every_idempotent_route_has_a_recipe() -> None:
    assert set(RECIPES) == idempotent_routes(build_spec(Settings()))


@pytest.mark.parametrize("route", sorted(RECIPES), ids=" ".join)
async def test_a_replay_answers_the_first_result_and_changes_nothing(
    route: tuple[str, str], loyalty: Loyalty
) -> None:
    request = await RECIPES[route](loyalty)
    await assert_replayed_once(loyalty.service.http, loyalty.service.url, request, loyalty.db)
