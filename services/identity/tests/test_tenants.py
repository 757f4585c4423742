"""Creating tenants (platform only) and their organisations (the tenant's admins only)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from libs.devstack.testing import service_in_process
from services.identity.app import Settings, build_spec
from services.identity.tests.conftest import PASSWORD, Identity
from services.identity.tests.credentials_support import PLATFORM_KEY

pytestmark = pytest.mark.fast


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


async def test_without_a_platform_key_no_key_creates_a_tenant(db: asyncpg.Connection) -> None:
    settings = Settings()  # no PLATFORM_KEY given
    async with service_in_process(db, build_spec(settings), settings) as running:
        http, url = running.http, running.url
        for key in ("dev-platform-key", "", PLATFORM_KEY):
            async with http.post(
                url + "/tenants", json=tenant_body("brand-x"), headers={"X-Platform-Key": key}
            ) as r:
                problem = await r.json()
                assert r.status == 403 and problem["type"] == "urn:comptoir:problem:platform-key-unset", (
                    problem
                )
                assert "PLATFORM_KEY" in problem["detail"]


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
        ("internal.identity.contact.v1", "identity.contact.changed"),
        ("internal.identity.facts.v1", "identity.account.facts_changed"),
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


# --- tenant settings ---


async def test_a_tenant_starts_with_the_default_settings_and_its_admin_replaces_them(
    identity: Identity,
) -> None:
    tenant, admin = await identity.create_tenant()
    _, other_admin = await identity.create_tenant()
    status, settings = await identity.call("GET", "/tenant/settings", token=admin)
    assert (status, settings) == (
        200,
        {
            "password_min_length": 8,
            "password_classes": ["lower", "upper", "digit", "special"],
            "password_change_at_first_login": False,
            "login_identifiers": ["email", "registration_number", "card_number"],
            "lockout_threshold": 5,
            "lockout_minutes": 15,
            "delete_without_order_days": None,
            "delete_after_last_order_days": None,
            "time_zone": "UTC",
        },
    )
    seed_001 = settings | {
        "login_identifiers": ["registration_number", "email"],
        "lockout_minutes": None,
        "delete_without_order_days": 90,
        "delete_after_last_order_days": 365,
        "time_zone": "Europe/Moscow",
    }
    assert await identity.call("PUT", "/tenant/settings", seed_001, token=admin) == (200, seed_001)
    assert await identity.call("GET", "/tenant/settings", token=admin) == (200, seed_001)
    # Tenants are apart: the other tenant's settings did not move.
    assert await identity.call("GET", "/tenant/settings", token=other_admin) == (200, settings)
    stored = await identity.db.fetchval(
        "SELECT delete_without_order_days FROM tenant_settings WHERE tenant_id = $1", tenant
    )
    assert stored == 90
    # The other services learn the tenant's time zone: at its creation, then at each replacement.
    assert [e["data"]["time_zone"] for e in await _tenant_events(identity, tenant)] == [
        "UTC",
        "Europe/Moscow",
    ]


async def _tenant_events(identity: Identity, tenant: str) -> list[dict[str, Any]]:
    rows = await identity.db.fetch(
        "SELECT key, payload FROM outbox WHERE topic = 'identity.tenant.v1' AND key = $1 ORDER BY id", tenant
    )
    events = [json.loads(row["payload"]) for row in rows]
    assert all(e["type"] == "identity.tenant.settings_changed" and e["tenantid"] == tenant for e in events)
    return events


async def test_a_tenant_is_created_in_its_time_zone_which_must_be_an_iana_name(identity: Identity) -> None:
    body = tenant_body("brand-tz") | {"time_zone": "Europe/Paris"}
    headers = {"X-Platform-Key": PLATFORM_KEY}
    assert (await identity.call("POST", "/tenants", body, headers=headers))[0] == 201
    assert [e["data"]["time_zone"] for e in await _tenant_events(identity, "brand-tz")] == ["Europe/Paris"]
    assert (
        await identity.db.fetchval("SELECT time_zone FROM tenant_settings WHERE tenant_id = 'brand-tz'")
        == "Europe/Paris"
    )
    for zone in ("Paris", "CET+1", "Europe/paris", "Europe", "../etc/passwd", ""):
        bad = tenant_body("brand-tz2") | {"time_zone": zone}
        status, problem = await identity.call("POST", "/tenants", bad, headers=headers)
        assert status == 422, (zone, problem)
        assert [(e["field"], e["type"]) for e in problem["errors"]] == [("time_zone", "time_zone")], problem
    assert not await identity.db.fetchval("SELECT count(*) FROM tenants WHERE tenant_id = 'brand-tz2'")


async def test_bad_settings_are_422s_naming_the_field_and_change_nothing(identity: Identity) -> None:
    _, admin = await identity.create_tenant()
    _, settings = await identity.call("GET", "/tenant/settings", token=admin)
    for change, field in (
        ({"password_min_length": 6}, "password_min_length"),
        ({"password_min_length": 129}, "password_min_length"),
        ({"password_classes": ["emoji"]}, "password_classes.0"),
        ({"login_identifiers": []}, "login_identifiers"),
        ({"login_identifiers": ["phone"]}, "login_identifiers.0"),
        ({"lockout_threshold": 0}, "lockout_threshold"),
        ({"lockout_minutes": 0}, "lockout_minutes"),
        ({"delete_without_order_days": -1}, "delete_without_order_days"),
        ({"delete_after_last_order_days": "a year"}, "delete_after_last_order_days"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": None}, "time_zone"),
        ({"colour": "blue"}, "colour"),
    ):
        status, problem = await identity.call("PUT", "/tenant/settings", settings | change, token=admin)
        assert status == 422 and field in [e["field"] for e in problem["errors"]], (change, problem)
    # PUT replaces everything: a setting left out is named, not silently reset.
    partial = {k: v for k, v in settings.items() if k != "lockout_threshold"}
    status, problem = await identity.call("PUT", "/tenant/settings", partial, token=admin)
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["lockout_threshold"]
    assert await identity.call("GET", "/tenant/settings", token=admin) == (200, settings)


async def test_only_admins_read_or_change_the_settings(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    _, partner = await identity.activated(tenant, "claire@pharmacie.test")
    _, settings = await identity.call("GET", "/tenant/settings", token=admin)
    assert (await identity.call("GET", "/tenant/settings", token=partner))[0] == 403
    assert (await identity.call("PUT", "/tenant/settings", settings, token=partner))[0] == 403
    assert (await identity.call("GET", "/tenant/settings"))[0] == 401


async def test_the_first_admins_password_meets_the_default_policy(identity: Identity) -> None:
    body = tenant_body("brand-weak")
    body["admin"]["password"] = "password"
    status, problem = await identity.call("POST", "/tenants", body, headers={"X-Platform-Key": PLATFORM_KEY})
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["admin.password"]
    assert problem["errors"][0]["lacks"] == ["an uppercase letter", "a digit", "a special character"]
    assert await identity.db.fetchval("SELECT count(*) FROM tenants") == 0


async def test_anyone_may_read_what_signing_in_to_a_tenant_needs_and_nothing_more(identity: Identity) -> None:
    key = {"X-Platform-Key": PLATFORM_KEY}
    body = tenant_body("brand-p") | {"time_zone": "Europe/Paris"}
    assert (await identity.call("POST", "/tenants", body, headers=key))[0] == 201

    status, public = await identity.call("GET", "/tenants/brand-p")
    assert status == 200
    assert public == {
        "tenant_id": "brand-p",
        "name": "Brand",
        "time_zone": "Europe/Paris",
        "login_identifiers": ["email", "registration_number", "card_number"],
        "password_min_length": 8,
        "password_classes": ["lower", "upper", "digit", "special"],
    }
    status, problem = await identity.call("GET", "/tenants/no-such-brand")
    assert status == 404 and problem["type"] == "urn:comptoir:problem:not-found"
