"""Every route of identity declared idempotent, replayed with its key: the first answer again, and
nothing changed. A route declared idempotent without a recipe here fails the first test."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest

from libs.devstack.testing import Replayable, assert_replayed_once, idempotent_routes
from services.identity.app import Settings, build_spec
from services.identity.tests.conftest import PASSWORD, PERSON, Identity
from services.identity.tests.credentials_support import PLATFORM_KEY

pytestmark = pytest.mark.fast


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _tenant(identity: Identity) -> Replayable:
    tenant_id = f"brand-{uuid.uuid4().hex[:8]}"
    admin = {"email": f"admin@{tenant_id}.test", "password": PASSWORD, "display_name": "Admin"}
    body = {"tenant_id": tenant_id, "name": "Brand", "admin": admin}
    return Replayable("POST", "/tenants", {"X-Platform-Key": PLATFORM_KEY}, json=body)


async def _organisation(identity: Identity) -> Replayable:
    _, admin = await identity.create_tenant()
    body = {"name": "Pharmacie du Marché", "customer_code": "C-1001"}
    return Replayable("POST", "/organisations", _bearer(admin), json=body)


async def _registration(identity: Identity) -> Replayable:
    tenant, _ = await identity.create_tenant()
    body = {
        "tenant_id": tenant,
        "email": "claire@example.test",
        "password": PASSWORD,
        "display_name": "Claire",
    }
    return Replayable("POST", "/accounts", {}, json=body)


async def _invitation(identity: Identity) -> Replayable:
    _, admin = await identity.create_tenant()
    body = {
        "email": "buyer@b2b.test",
        "display_name": "Buyer",
        "roles": ["partner"],
        "initial_password": PASSWORD,
    }
    return Replayable("POST", "/accounts/invitations", _bearer(admin), json=body)


async def _customer(identity: Identity) -> Replayable:
    tenant, admin = await identity.create_tenant()
    _, shop = await identity.member(tenant, admin, "shop@boutique.test", ["shop"])
    body = {"email": "marie@example.test", "first_name": "Marie", "last_name": "Curie"}
    return Replayable("POST", "/accounts/customers", _bearer(shop), json=body)


async def _recruit(identity: Identity) -> Replayable:
    tenant, admin = await identity.create_tenant()
    _, sponsor = await identity.member(tenant, admin, "olga@team.test", ["seller"])
    return Replayable(
        "POST", "/accounts/me/team", _bearer(sponsor), json={"email": "anna@team.test"} | PERSON
    )


async def _api_client(identity: Identity) -> Replayable:
    _, admin = await identity.create_tenant()
    return Replayable("POST", "/api-clients", _bearer(admin), json={"name": "ERP"})


RECIPES: dict[tuple[str, str], Callable[[Identity], Awaitable[Replayable]]] = {
    ("POST", "/tenants"): _tenant,
    ("POST", "/organisations"): _organisation,
    ("POST", "/accounts"): _registration,
    ("POST", "/accounts/invitations"): _invitation,
    ("POST", "/accounts/customers"): _customer,
    ("POST", "/accounts/me/team"): _recruit,
    ("POST", "/api-clients"): _api_client,
}


def test_every_idempotent_route_has_a_recipe() -> None:
    assert set(RECIPES) == idempotent_routes(build_spec(Settings()))


@pytest.mark.parametrize("route", sorted(RECIPES), ids=" ".join)
async def test_a_replay_answers_the_first_result_and_changes_nothing(
    route: tuple[str, str], identity: Identity
) -> None:
    request = await RECIPES[route](identity)
    await assert_replayed_once(identity.http, identity.url, request, identity.db)
