"""Organisations and memberships: who reads an organisation and its members, and an admin changing
an account's roles and organisation."""

from __future__ import annotations

import uuid

import jwt
import pytest

from services.identity.tests.conftest import Identity

pytestmark = pytest.mark.fast


async def test_an_organisation_is_read_by_the_tenants_admins_and_its_own_members(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    _, other_admin = await identity.create_tenant()
    marche = await identity.organisation(admin, "C-1001", "Pharmacie du Marché")
    gare = await identity.organisation(admin, "C-2002", "Pharmacie de la Gare")
    _, claire = await identity.member(
        tenant, admin, "claire@marche.test", ["partner"], organisation_id=marche
    )
    _, loner = await identity.member(tenant, admin, "loner@example.test", ["partner"])
    expected = {
        "organisation_id": marche,
        "name": "Pharmacie du Marché",
        "customer_code": "C-1001",
        "kind": "partner",
        "address": None,
        "phone": None,
        "opening_hours": None,
    }

    assert await identity.call("GET", f"/organisations/{marche}", token=admin) == (200, expected)
    assert await identity.call("GET", f"/organisations/{marche}", token=claire) == (200, expected)
    for token, path in (
        (claire, f"/organisations/{gare}"),  # another organisation of her tenant
        (loner, f"/organisations/{marche}"),  # she belongs to none
        (other_admin, f"/organisations/{marche}"),  # another tenant
        (admin, f"/organisations/{uuid.uuid4()}"),
        (admin, "/organisations/not-an-id"),
    ):
        status, problem = await identity.call("GET", path, token=token)
        assert status == 404 and problem["type"] == "urn:comptoir:problem:not-found", path
    assert (await identity.call("GET", f"/organisations/{marche}"))[0] == 401


async def test_an_admin_renames_an_organisation_or_changes_its_customer_code(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    _, other_admin = await identity.create_tenant()
    marche = await identity.organisation(admin, "C-1001", "Pharmacie du Marché")
    await identity.organisation(admin, "C-2002", "Pharmacie de la Gare")
    _, claire = await identity.member(
        tenant, admin, "claire@marche.test", ["partner"], organisation_id=marche
    )
    path = f"/organisations/{marche}"

    status, renamed = await identity.call("PATCH", path, {"name": "Grande Pharmacie"}, token=admin)
    assert status == 200 and renamed["name"] == "Grande Pharmacie" and renamed["customer_code"] == "C-1001"
    status, recoded = await identity.call("PATCH", path, {"customer_code": "C-1002"}, token=admin)
    assert status == 200 and recoded == renamed | {"customer_code": "C-1002"}

    status, problem = await identity.call("PATCH", path, {"customer_code": "C-2002"}, token=admin)
    assert status == 409 and problem["type"] == "urn:comptoir:problem:customer-code-taken"
    for body in ({"name": ""}, {"customer_code": "x" * 65}, {"owner": "me"}):
        assert (await identity.call("PATCH", path, body, token=admin))[0] == 422, body
    assert (await identity.call("PATCH", path, {"name": "Mine"}, token=claire))[0] == 403
    assert (await identity.call("PATCH", path, {"name": "Mine"}, token=other_admin))[0] == 404
    assert await identity.call("GET", path, token=admin) == (200, recoded)
    # A partner now registers with the new code.
    status, created = await identity.register(tenant, "new@marche.test", customer_code="C-1002")
    assert status == 201, created


async def test_members_are_listed_for_admins_and_the_organisations_validators(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    _, other_admin = await identity.create_tenant()
    marche = await identity.organisation(admin, "C-1001")
    gare = await identity.organisation(admin, "C-2002")
    claire_id, claire = await identity.member(
        tenant, admin, "claire@marche.test", ["partner"], organisation_id=marche
    )
    victor_id, victor = await identity.member(
        tenant, admin, "victor@marche.test", ["validator"], organisation_id=marche
    )
    _, gare_validator = await identity.member(
        tenant, admin, "vera@gare.test", ["validator"], organisation_id=gare
    )
    path = f"/organisations/{marche}/members"

    for token in (admin, victor):
        status, members = await identity.call("GET", path, token=token)
        assert status == 200 and [m["account_id"] for m in members] == [claire_id, victor_id]
    assert members[0]["email"] == "claire@marche.test" and "passport" not in members[0]
    status, page = await identity.call("GET", path + "?limit=1&offset=1", token=admin)
    assert status == 200 and [m["account_id"] for m in page] == [victor_id]
    assert (await identity.call("GET", path + "?limit=0", token=admin))[0] == 422
    assert (await identity.call("GET", path, token=claire))[0] == 403  # partners do not list
    assert (await identity.call("GET", path, token=gare_validator))[0] == 404  # another organisation
    assert (await identity.call("GET", path, token=other_admin))[0] == 404  # another tenant


async def test_an_admin_changes_an_accounts_roles_and_organisation(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    marche = await identity.organisation(admin, "C-1001")
    account_id, _ = await identity.member(tenant, admin, "claire@marche.test", ["partner"])
    path = f"/accounts/{account_id}"

    status, changed = await identity.call(
        "PATCH", path, {"roles": ["partner", "validator"], "organisation_id": marche}, token=admin
    )
    assert status == 200, changed
    assert changed["roles"] == ["partner", "validator"] and changed["organisation_id"] == marche
    [event] = [
        e for _, _, e in await identity.published(account_id) if e["type"].endswith("membership_changed")
    ]
    assert event["data"]["roles"] == ["partner", "validator"] and event["data"]["organisation_id"] == marche
    # Her next token carries them.
    claims = jwt.decode(
        await identity.login(tenant, "claire@marche.test"), options={"verify_signature": False}
    )
    assert claims["roles"] == ["partner", "validator"] and claims["org"] == marche

    # Leaving out a field keeps it; the same values change nothing and announce nothing.
    status, same = await identity.call("PATCH", path, {"roles": ["partner", "validator"]}, token=admin)
    assert status == 200 and same["organisation_id"] == marche
    assert len([t for t in await identity.event_types(account_id) if t.endswith("membership_changed")]) == 1
    status, removed = await identity.call(
        "PATCH", path, {"roles": ["partner"], "organisation_id": None}, token=admin
    )
    assert status == 200 and removed["organisation_id"] is None


async def test_bad_membership_changes_are_refused_and_change_nothing(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    _, other_admin = await identity.create_tenant()
    _, foreign_admin = await identity.create_tenant()
    foreign = await identity.organisation(foreign_admin, "C-1001")
    account_id, partner = await identity.member(tenant, admin, "claire@marche.test", ["partner"])
    path = f"/accounts/{account_id}"

    for body, field in (
        ({"roles": ["superuser"]}, "roles.0"),
        ({"roles": []}, "roles"),
        ({"roles": None}, "roles"),
        ({"roles": ["partner", "partner"]}, "roles"),
        ({"roles": ["validator"]}, "roles"),  # a validator needs an organisation
        ({"organisation_id": str(uuid.uuid4())}, "organisation_id"),
        ({"organisation_id": foreign}, "organisation_id"),  # another tenant's
        ({"email": "x@y.test"}, "email"),
    ):
        status, problem = await identity.call("PATCH", path, body, token=admin)
        assert status == 422 and field in [e["field"] for e in problem["errors"]], (body, problem)
    assert (await identity.call("PATCH", path, {"roles": ["admin"]}, token=partner))[0] == 403
    assert (await identity.call("PATCH", path, {"roles": ["admin"]}, token=other_admin))[0] == 404

    # The tenant keeps an admin: its last one cannot be demoted, the next to last can.
    status, me = await identity.call("GET", "/me", token=admin)
    status, problem = await identity.call(
        "PATCH", f"/accounts/{me['account_id']}", {"roles": ["shop"]}, token=admin
    )
    assert status == 409 and problem["type"] == "urn:comptoir:problem:last-admin"
    assert (await identity.call("PATCH", path, {"roles": ["admin"]}, token=admin))[0] == 200
    assert (await identity.call("PATCH", f"/accounts/{me['account_id']}", {"roles": ["shop"]}, token=admin))[
        0
    ] == 200
    assert not [t for t in await identity.event_types(account_id) if t.endswith("membership_changed")][1:]
