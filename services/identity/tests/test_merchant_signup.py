"""A merchant signs up for a space of her own: nothing exists until she follows the emailed link;
then her tenant and her manager account do, active. Refusals change nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.identity.tests.conftest import PASSWORD, Identity

pytestmark = pytest.mark.fast


def _signup(tenant_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "name": "Bijoux Lina",
        "email": f"lina@{tenant_id}.test",
        "display_name": "Lina",
        "password": PASSWORD,
    } | changes


async def _token(identity: Identity, tenant_id: str) -> str:
    rows = await identity.db.fetch(
        "SELECT convert_from(payload, 'UTF8')::jsonb AS event FROM outbox"
        " WHERE topic = 'internal.notify.requests.v1'"
        " AND convert_from(payload, 'UTF8')::jsonb ->> 'tenantid' = $1 ORDER BY id",
        tenant_id,
    )
    *_, latest = [json.loads(row["event"]) for row in rows]
    assert (
        latest["type"] == "identity.activation.requested"
        and latest["data"]["email"] == f"lina@{tenant_id}.test"
    )
    url = str(latest["data"]["activation_url"])
    assert "/merchants/sign-up/" in url
    return url.rsplit("/", 1)[1]


async def test_a_merchant_signs_up_and_her_space_exists_once_she_follows_the_link(identity: Identity) -> None:
    status, started = await identity.call("POST", "/merchants", _signup("bijoux-lina"))
    assert status == 202 and started["status"] == "verification_sent", started
    assert (await identity.call("GET", "/tenants/bijoux-lina"))[0] == 404  # nothing before the link
    token = await _token(identity, "bijoux-lina")

    status, created = await identity.call("POST", "/merchants/confirmations", {"token": token})

    assert status == 201 and created["tenant_id"] == "bijoux-lina", created
    manager = await identity.login("bijoux-lina", "lina@bijoux-lina.test")
    status, me = await identity.call("GET", "/me", token=manager)
    assert me["roles"] == ["admin"] and me["status"] == "active"
    # The email was addressed to the account she now has.
    assert me["account_id"] == created["admin_account_id"]
    status, problem = await identity.call("POST", "/merchants/confirmations", {"token": token})
    assert status == 410 and problem["type"] == "urn:comptoir:problem:signup-used"


async def test_a_taken_or_reserved_id_a_weak_password_or_a_bad_link_is_refused(identity: Identity) -> None:
    await identity.create_tenant("lina-taken")
    assert (await identity.call("POST", "/merchants", _signup("lina-taken")))[0] == 409
    for body, field in (
        (_signup("merchants"), "tenant_id"),
        (_signup("Bad Id!", email="lina@bad.test"), "tenant_id"),
        (_signup("lina-weak", password="short"), "password"),
        (_signup("lina-mail", email="not-an-email"), "email"),
    ):
        status, problem = await identity.call("POST", "/merchants", body)
        assert status == 422 and [e["field"] for e in problem["errors"]] == [field], (body, problem)
    assert await identity.db.fetchval("SELECT count(*) FROM merchant_signups") == 0
    status, problem = await identity.call("POST", "/merchants/confirmations", {"token": "not-a-token"})
    assert status == 404 and problem["type"] == "urn:comptoir:problem:unknown-signup"


async def test_an_expired_link_creates_nothing_and_the_first_confirmed_gets_the_id(
    identity: Identity,
) -> None:
    await identity.call("POST", "/merchants", _signup("lina-late"))
    late = await _token(identity, "lina-late")
    await identity.db.execute("UPDATE merchant_signups SET expires_at = now() - interval '1 minute'")
    status, problem = await identity.call("POST", "/merchants/confirmations", {"token": late})
    assert status == 410 and problem["type"] == "urn:comptoir:problem:signup-expired"
    assert (await identity.call("GET", "/tenants/lina-late"))[0] == 404

    await identity.call("POST", "/merchants", _signup("lina-twice"))
    first = await _token(identity, "lina-twice")
    await identity.call("POST", "/merchants", _signup("lina-twice", email="other@lina-twice.test"))
    rows = await identity.db.fetch(
        "SELECT convert_from(payload, 'UTF8')::jsonb -> 'data' ->> 'activation_url' AS url FROM outbox"
        " WHERE convert_from(payload, 'UTF8')::jsonb ->> 'tenantid' = 'lina-twice' ORDER BY id"
    )
    second = rows[-1]["url"].rsplit("/", 1)[1]
    assert (await identity.call("POST", "/merchants/confirmations", {"token": second}))[0] == 201
    status, problem = await identity.call("POST", "/merchants/confirmations", {"token": first})
    assert status == 409 and problem["type"] == "urn:comptoir:problem:tenant-exists"
