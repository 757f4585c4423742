"""Organisations are announced to other services (created, renamed), without their customer code,
and the organisations that existed before the announcements are announced once by a migration; so
are the tenants' time zones."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest

from libs.common.db import migrate, service_migrations
from libs.common.events import Envelope
from libs.devstack.testing import Isolated
from services.identity.app import Settings, build_spec
from services.identity.events import OrganisationCreated, OrganisationUpdated, TenantSettingsChanged
from services.identity.tests.conftest import Identity

TOPIC = "identity.organisation.v1"
ANNOUNCING_MIGRATION = "service/0006_publish_organisations.sql"


async def _announced(db: asyncpg.Pool | asyncpg.Connection) -> list[tuple[str, dict[str, Any]]]:
    """(key, envelope) of each organisation event in the outbox, oldest first."""
    rows = await db.fetch("SELECT key, payload FROM outbox WHERE topic = $1 ORDER BY id", TOPIC)
    return [(row["key"], json.loads(row["payload"])) for row in rows]


@pytest.mark.asyncio(loop_scope="module")
async def test_an_organisation_is_announced_when_created_and_renamed_never_with_its_customer_code(
    shared_identity: Identity,
) -> None:
    identity = shared_identity
    tenant, admin = await identity.create_tenant()
    marche = await identity.organisation(admin, "SECRET-C-1001", "Pharmacie du Marché")
    path = f"/organisations/{marche}"
    assert (await identity.call("PATCH", path, {"name": "Grande Pharmacie"}, token=admin))[0] == 200
    # A new code alone is not announced: the event would only say that the secret changed.
    assert (await identity.call("PATCH", path, {"customer_code": "SECRET-C-1002"}, token=admin))[0] == 200

    events = [(key, event) for key, event in await _announced(identity.db) if key == marche]
    assert [event["type"] for _, event in events] == [
        "identity.organisation.created",
        "identity.organisation.updated",
    ]
    created, renamed = (Envelope.model_validate(event) for _, event in events)
    assert {created.tenantid, renamed.tenantid} == {tenant}
    assert {created.subject, renamed.subject} == {marche}
    assert OrganisationCreated.model_validate(created.data).name == "Pharmacie du Marché"
    assert OrganisationUpdated.model_validate(renamed.data).name == "Grande Pharmacie"
    assert "SECRET-C-100" not in json.dumps([event for _, event in events])


async def test_the_migration_announces_each_existing_organisation_exactly_once(
    isolated: Isolated, pool: asyncpg.Pool
) -> None:
    migrations = service_migrations(build_spec(Settings()).folder)
    before = migrations[: [m.name for m in migrations].index(ANNOUNCING_MIGRATION)]
    organisations = {uuid.uuid4(): "Pharmacie du Marché", uuid.uuid4(): 'Pharmacie l\'Étoile "Gare"'}
    async with pool.acquire() as conn:
        await migrate(conn, isolated.name, before)
        await conn.execute("INSERT INTO tenants (tenant_id, name) VALUES ('pharma', 'Pharma')")
        for organisation_id, name in organisations.items():
            await conn.execute(
                "INSERT INTO organisations (organisation_id, tenant_id, name, customer_code)"
                " VALUES ($1, 'pharma', $2, $3)",
                organisation_id,
                name,
                f"SECRET-{name}",
            )

        await migrate(conn, isolated.name, migrations)
        await migrate(conn, isolated.name, migrations)  # a second start applies nothing again

        announced = await _announced(conn)
    assert sorted(key for key, _ in announced) == sorted(str(o) for o in organisations)
    for key, payload in announced:
        event = Envelope.model_validate(payload)
        data = OrganisationCreated.model_validate(event.data)
        assert (event.type, event.source, event.subject, event.tenantid) == (
            "identity.organisation.created",
            "identity",
            key,
            "pharma",
        )
        assert event.dataschema == OrganisationCreated.dataschema()
        assert data.name == organisations[uuid.UUID(key)] and data.created_at.tzinfo is not None
    assert len({event["id"] for _, event in announced}) == len(organisations)
    assert "SECRET-" not in json.dumps([event for _, event in announced])


async def test_the_migration_announces_each_existing_tenants_time_zone_once(
    isolated: Isolated, pool: asyncpg.Pool
) -> None:
    migrations = service_migrations(build_spec(Settings()).folder)
    before = migrations[: [m.name for m in migrations].index("service/0007_tenant_time_zone.sql")]
    async with pool.acquire() as conn:
        await migrate(conn, isolated.name, before)
        for tenant_id in ("pharma", "conseil"):
            await conn.execute("INSERT INTO tenants (tenant_id, name) VALUES ($1, 'Brand')", tenant_id)
            await conn.execute("INSERT INTO tenant_settings (tenant_id) VALUES ($1)", tenant_id)

        await migrate(conn, isolated.name, migrations)
        await migrate(conn, isolated.name, migrations)  # a second start applies nothing again

        rows = await conn.fetch(
            "SELECT key, payload FROM outbox WHERE topic = 'identity.tenant.v1' ORDER BY id"
        )
    events = {row["key"]: Envelope.model_validate_json(row["payload"]) for row in rows}
    assert sorted(events) == ["conseil", "pharma"] and len(rows) == 2
    for tenant_id, event in events.items():
        assert (event.type, event.source, event.subject, event.tenantid) == (
            "identity.tenant.settings_changed",
            "identity",
            tenant_id,
            tenant_id,
        )
        assert event.dataschema == TenantSettingsChanged.dataschema()
        changed = TenantSettingsChanged.model_validate(event.data)
        assert changed.time_zone == "UTC" and changed.changed_at.tzinfo is not None
