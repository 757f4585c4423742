"""The approval workflow on the fast tier: an organisation's policy holds its orders above the
threshold for its validators (known from identity's events), who approve, refuse or modify them;
two deciding at once: one wins, the other gets 409."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from libs.common.events import Envelope
from services.ordering.tests.conftest import Caller, Ordering
from tests.contracts.examples import example_event

pytestmark = pytest.mark.fast


def member(tenant_id: str, account_id: str, roles: list[str], organisation_id: str | None) -> Envelope:
    return example_event(
        "identity.account.registered",
        tenant_id,
        subject=account_id,
        account_id=account_id,
        roles=roles,
        organisation_id=organisation_id,
    )


def organisation(tenant_id: str, organisation_id: str) -> Envelope:
    return example_event(
        "identity.organisation.created", tenant_id, subject=organisation_id, organisation_id=organisation_id
    )


@pytest.fixture
async def org(ordering: Ordering) -> Ordering:
    return await with_organisations(ordering)


async def with_organisations(ordering: Ordering) -> Ordering:
    """Organisation org-1 of tenant A with its validator and a second one, a 50.00 threshold, a mug at
    20.00 in the catalog."""
    a = ordering.tenant_a
    await ordering.publish(
        organisation(a, "org-1"),
        organisation(a, "org-2"),
        member(a, "validator-a1", ["validator"], "org-1"),
        member(a, "validator-a2", ["partner", "validator"], "org-1"),
        member(a, "partner-a1", ["partner"], "org-1"),
        member(a, "validator-b", ["validator"], "org-2"),
        ordering.product(uuid.uuid4(), "MUG", 2000),
    )
    status, _, _ = await ordering.call(
        "PUT", "/organisations/org-1/approval-policy", ordering.admin_a, {"threshold_minor": 5000}
    )
    assert status == 200
    return ordering


def validator(ordering: Ordering, account_id: str = "validator-a1", organisation_id: str = "org-1") -> Caller:
    return {
        "account_id": account_id,
        "tenant_id": ordering.tenant_a,
        "roles": ["validator"],
        "organisation_id": organisation_id,
    }


async def order(
    ordering: Ordering, quantity: int, caller: Caller | None = None, **choices: Any
) -> dict[str, Any]:
    status, body = await ordering.submit(
        caller or ordering.partner_a, [{"code": "MUG", "quantity": quantity}], **choices
    )
    assert status == 201, body
    return dict(body)


async def events(ordering: Ordering) -> list[tuple[str, dict[str, Any]]]:
    types = [
        "ordering.order." + t for t in ("held_for_approval", "approved", "refused", "modified", "confirmed")
    ]
    return [(e["type"].rsplit(".", 1)[1], e["data"]) for _, e in await ordering.published(*types)]


async def test_an_order_under_the_threshold_goes_straight_through_with_the_validators_copied(
    org: Ordering,
) -> None:
    placed = await order(org, 2)  # 40.00
    assert placed["status"] == "confirmed"
    [(kind, data)] = await events(org)
    assert (kind, data["validators"]) == ("confirmed", ["validator-a1", "validator-a2"])


async def test_an_order_above_waits_for_a_validator_who_approves_it(org: Ordering) -> None:
    placed = await order(org, 3, reference="PO-9")  # 60.00
    assert (placed["status"], placed["history"][0]["action"]) == ("awaiting_approval", "hold")
    [(kind, held)] = await events(org)
    assert (kind, held["validators"], held["reference"]) == (
        "held_for_approval",
        ["validator-a1", "validator-a2"],
        "PO-9",
    )

    _, waiting, _ = await org.call("GET", "/orders?status=awaiting_approval", validator(org))
    assert [o["order_id"] for o in waiting] == [placed["order_id"]]
    _, found, _ = await org.call("GET", "/orders?status=awaiting_approval&reference=po", validator(org))
    assert len(found) == 1
    _, found, _ = await org.call("GET", "/orders?status=awaiting_approval&reference=XX", validator(org))
    assert found == []

    path = f"/orders/{placed['order_id']}"
    status, approved, _ = await org.call("POST", f"{path}/approve", validator(org), {"version": 1})
    assert (status, approved["status"], approved["version"]) == (200, "confirmed", 2)
    assert [h["action"] for h in approved["history"]] == ["hold", "approve"]
    kinds = [kind for kind, _ in await events(org)]
    assert kinds == ["held_for_approval", "approved", "confirmed"]
    _, waiting, _ = await org.call("GET", "/orders?status=awaiting_approval", validator(org))
    assert waiting == []


async def test_a_validators_own_order_never_waits(org: Ordering) -> None:
    assert (await order(org, 10, validator(org)))["status"] == "confirmed"


async def test_an_organisation_without_a_policy_needs_no_approval(org: Ordering) -> None:
    await org.call("DELETE", "/organisations/org-1/approval-policy", org.admin_a)
    assert (await order(org, 10))["status"] == "confirmed"
    status, _, _ = await org.call("GET", "/organisations/org-1/approval-policy", validator(org))
    assert status == 204


async def test_a_refusal_needs_a_reason_and_ends_the_order(org: Ordering) -> None:
    placed = await order(org, 3)
    path = f"/orders/{placed['order_id']}"
    status, problem, _ = await org.call("POST", f"{path}/refuse", validator(org), {"version": 1})
    assert (status, [e["field"] for e in problem["errors"]]) == (422, ["reason"])
    status, refused, _ = await org.call(
        "POST", f"{path}/refuse", validator(org), {"version": 1, "reason": "Budget"}
    )
    assert (status, refused["status"], refused["history"][-1]["reason"]) == (200, "refused", "Budget")
    status, problem, _ = await org.call("POST", f"{path}/approve", validator(org), {"version": 2})
    assert (status, problem["order_status"]) == (409, "refused")
    assert [kind for kind, _ in await events(org)] == ["held_for_approval", "refused"]


async def test_two_validators_deciding_at_once_one_wins_the_other_gets_409(org: Ordering) -> None:
    placed = await order(org, 3)
    path = f"/orders/{placed['order_id']}"
    first = await org.call("POST", f"{path}/approve", validator(org), {"version": 1})
    second = await org.call(
        "POST", f"{path}/refuse", validator(org, "validator-a2"), {"version": 1, "reason": "No"}
    )
    assert (first[0], second[0]) == (200, 409)
    assert (second[1]["type"], second[1]["order_status"]) == (
        "urn:comptoir:problem:order-changed",
        "confirmed",
    )
    assert [kind for kind, _ in await events(org)] == ["held_for_approval", "approved", "confirmed"]


async def test_a_validator_modifies_an_order_then_approves_it(org: Ordering) -> None:
    placed = await order(org, 3)
    path = f"/orders/{placed['order_id']}"
    body = {
        "version": 1,
        "lines": [{"code": "MUG", "quantity": 2}],
        "delivery_date": placed["checkout"]["choices"]["delivery_date"],
    }
    status, changed, _ = await org.call("POST", f"{path}/modify", validator(org), body)
    assert status == 200, changed
    assert (changed["status"], changed["version"], changed["total_minor"]) == ("awaiting_approval", 2, 4000)
    assert changed["lines"][0]["quantity"] == 2
    _, stored, _ = await org.call("GET", path, org.partner_a)
    assert stored["lines"] == changed["lines"] and stored["checkout"]["totals"]["goods_minor"] == 4000
    status, problem, _ = await org.call("POST", f"{path}/approve", validator(org), {"version": 1})
    assert (status, problem["version"]) == (409, 2)
    status, approved, _ = await org.call("POST", f"{path}/approve", validator(org), {"version": 2})
    assert (status, approved["status"]) == (200, "confirmed")
    confirmed = [data for kind, data in await events(org) if kind == "confirmed"]
    assert confirmed[0]["totals"]["goods_minor"] == 4000


async def test_only_the_organisations_validators_and_the_admin_decide(org: Ordering) -> None:
    placed = await order(org, 3)
    path = f"/orders/{placed['order_id']}/approve"
    assert (await org.call("POST", path, validator(org, "validator-b", "org-2"), {"version": 1}))[0] == 404
    assert (await org.call("POST", path, org.partner_a, {"version": 1}))[0] == 403
    assert (await org.call("POST", path, org.admin_b, {"version": 1}))[0] == 404
    assert (await org.call("POST", path, org.admin_a, {"version": 1}))[0] == 200


async def test_the_policy_belongs_to_an_organisation_of_the_tenant(org: Ordering) -> None:
    status, policy, _ = await org.call("GET", "/organisations/org-1/approval-policy", validator(org))
    assert (status, policy["threshold_minor"], policy["validators"]) == (
        200,
        5000,
        ["validator-a1", "validator-a2"],
    )
    assert (await org.call("GET", "/organisations/org-2/approval-policy", validator(org)))[0] == 404
    assert (
        await org.call("PUT", "/organisations/org-1/approval-policy", org.admin_b, {"threshold_minor": 1})
    )[0] == 404
    assert (
        await org.call("PUT", "/organisations/nope/approval-policy", org.admin_a, {"threshold_minor": 1})
    )[0] == 404
    status, problem, _ = await org.call(
        "PUT", "/organisations/org-1/approval-policy", org.admin_a, {"threshold_minor": -1}
    )
    assert (status, problem["errors"][0]["field"]) == (422, "threshold_minor")


async def test_a_membership_change_moves_the_validator_role(org: Ordering) -> None:
    a = org.tenant_a
    later = example_event(
        "identity.account.membership_changed",
        a,
        subject="validator-a2",
        account_id="validator-a2",
        roles=["partner"],
        organisation_id="org-1",
    )
    await org.publish(later)
    _, policy, _ = await org.call("GET", "/organisations/org-1/approval-policy", validator(org))
    assert policy["validators"] == ["validator-a1"]
