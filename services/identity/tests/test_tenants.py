"""Creating tenants (platform only) and their organisations (the tenant's admins only)."""

from __future__ import annotations

from typing import Any

from services.identity.tests.conftest import PASSWORD, PLATFORM_KEY, Identity


def tenant_body(tenant_id: str) -> dict[str, Any]:
    admin = {
        "email": f"admin@{tenant_id}.test",
        "password": PASSWORD,
        "display_name": "Admin",
        "locale": "fr",
    }
    return {"tenant_id": tenant_id, "name": "Brand", "admin": admin}


async def test_creating_a_tenant_needs_the_platform_key(identity: Identity) -> None:
    for headers in (None, {"X-Platform-Key": "guess"}, {"X-Platform-Key": ""}):
        status, problem = await identity.call("POST", "/tenants", tenant_body("brand-x"), headers=headers)
        assert status == 403 and problem["type"] == "urn:comptoir:problem:platform-key-required"
    assert await identity.db.fetchval("SELECT count(*) FROM tenants") == 0


async def test_a_tenants_admin_can_log_in_at_once_and_a_tenant_is_created_once(identity: Identity) -> None:
    key = {"X-Platform-Key": PLATFORM_KEY}
    status, created = await identity.call("POST", "/tenants", tenant_body("brand-a"), headers=key)
    assert status == 201 and created["tenant_id"] == "brand-a"
    admin_id = created["admin_account_id"]

    token = await identity.login("brand-a", "admin@brand-a.test")
    status, me = await identity.call("GET", "/me", token=token)
    assert status == 200 and me["roles"] == ["admin"] and me["status"] == "active"
    assert [(t, e["type"]) for t, _, e in await identity.published(admin_id)] == [
        ("identity.account.v1", "identity.account.registered"),
        ("identity.contact.v1", "identity.contact.changed"),
        ("identity.account.v1", "identity.account.activated"),
    ]
    status, problem = await identity.call("POST", "/tenants", tenant_body("brand-a"), headers=key)
    assert status == 409 and problem["type"] == "urn:comptoir:problem:tenant-exists"


async def test_a_bad_tenant_slug_is_a_422(identity: Identity) -> None:
    key = {"X-Platform-Key": PLATFORM_KEY}
    for slug in ("A", "Brand", "brand a", "b" * 41):
        status, problem = await identity.call("POST", "/tenants", tenant_body(slug), headers=key)
        assert status == 422 and problem["errors"][0]["field"] == "tenant_id", slug


async def test_organisations_are_for_admins_of_their_tenant(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    _, other_admin = await identity.create_tenant()
    _, partner = await identity.activated(tenant, "claire@pharmacie.test")
    body = {"name": "Pharmacie du Marché", "customer_code": "C-1001"}

    status, problem = await identity.call("POST", "/organisations", body, token=partner)
    assert status == 403 and "admin" in problem["detail"]
    status, _ = await identity.call("GET", "/organisations", token=partner)
    assert status == 403

    status, created = await identity.call("POST", "/organisations", body, token=admin)
    assert status == 201 and created["name"] == body["name"] and created["customer_code"] == "C-1001"
    status, problem = await identity.call("POST", "/organisations", body | {"name": "Twin"}, token=admin)
    assert status == 409 and problem["type"] == "urn:comptoir:problem:customer-code-taken"
    status, _ = await identity.call("POST", "/organisations", body, token=other_admin)
    assert status == 201  # customer codes are per tenant

    assert await identity.call("GET", "/organisations", token=admin) == (200, [created])
    status, listed = await identity.call("GET", "/organisations", token=other_admin)
    assert status == 200 and [o["organisation_id"] for o in listed] != [created["organisation_id"]]


async def test_a_replayed_organisation_creation_answers_the_first_result(identity: Identity) -> None:
    _, admin = await identity.create_tenant()
    body = {"name": "Pharmacie du Marché", "customer_code": "C-1001"}
    headers = {"Idempotency-Key": "org-1"}
    first = await identity.call("POST", "/organisations", body, token=admin, headers=headers)
    again = await identity.call("POST", "/organisations", body, token=admin, headers=headers)
    assert first[0] == again[0] == 201 and first[1] == again[1]
