"""Closing an account (by its owner or an admin): the row goes, and with it every personal value
identity held anywhere in its schema; `identity.account.deleted` tells the other services."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.identity.tests.conftest import PASSWORD, Identity

pytestmark = pytest.mark.fast

# Values nobody else in these tests holds, so that finding one anywhere means it was not erased.
DELETED_PERSON: dict[str, Any] = {
    "first_name": "Wilhelmina",
    "last_name": "Zykova",
    "birth_date": "1977-07-17",
    "address": {
        "line1": "99 allee des Erables",
        "line2": "Batiment Quetzal",
        "postal_code": "13013",
        "city": "Marseille",
        "country": "FR",
    },
    "phone": "+33798765432",
    "passport": "ZX 998877",
}


def personal(email: str, registration_number: str, card_number: str | None = None) -> list[str]:
    address = DELETED_PERSON["address"]
    values = [email, "Wilhelmina", "Zykova", "Wilhelmina Zykova", "1977-07-17", "+33798765432", "ZX 998877"]
    values += [
        address["line1"],
        address["line2"],
        address["postal_code"],
        address["city"],
        registration_number,
    ]
    return values + ([card_number] if card_number else [])


async def deleted_events(identity: Identity, account_id: str) -> list[dict[str, Any]]:
    return [e for _, _, e in await identity.published(account_id) if e["type"] == "identity.account.deleted"]


async def test_closing_her_account_erases_every_personal_value_from_identitys_schema(
    identity: Identity,
) -> None:
    tenant, admin = await identity.create_tenant()
    keeper_id, _ = await identity.activated(tenant, "keeper@example.test")
    email = "wilhelmina@example.test"
    body = {"tenant_id": tenant, "email": email, "password": PASSWORD} | DELETED_PERSON
    # Registered with an Idempotency-Key: the remembered answer holds her registration number.
    status, created = await identity.call("POST", "/accounts", body, headers={"Idempotency-Key": "reg-w"})
    assert status == 201, created
    account_id = created["account_id"]
    assert (await identity.call("GET", await identity.activation_link(account_id)))[0] == 200
    token = await identity.login(tenant, email)
    # More traces: a code waiting (a resend by code after the activation does nothing, so put one by hand).
    await identity.db.execute(
        "INSERT INTO one_time_codes (account_id, purpose, code_hash, channel, expires_at)"
        " VALUES ($1, 'recovery', '\\x00', 'sms', now() + interval '5 minutes')",
        uuid.UUID(account_id),
    )
    values = personal(email, created["registration_number"])
    assert {table for table, _ in await identity.rows_holding(values)} >= {
        "accounts",
        "outbox",
        "idempotency_keys",
    }

    status, problem = await identity.call("DELETE", "/me", {"password": "Wrong-Horse-9"}, token=token)
    assert status == 403 and problem["type"] == "urn:comptoir:problem:wrong-password"
    assert (await identity.call("DELETE", "/me", {}, token=token))[0] == 422
    assert (await identity.call("GET", "/me", token=token))[0] == 200  # nothing happened

    status, _ = await identity.call("DELETE", "/me", {"password": PASSWORD}, token=token)
    assert status == 204
    assert await identity.rows_holding(values) == []
    for table in ("accounts", "activation_tokens", "one_time_codes", "refresh_tokens"):
        count = await identity.db.fetchval(
            f"SELECT count(*) FROM {table} WHERE account_id = $1", uuid.UUID(account_id)
        )
        assert count == 0, table
    [deleted] = await deleted_events(identity, account_id)
    assert deleted["data"]["reason"] == "closed" and deleted["data"]["account_id"] == account_id
    assert deleted["subject"] == account_id and deleted["tenantid"] == tenant
    # What she published as herself is gone; what others published stays. Her session's end names
    # only ids, so that every service refuses its token at once.
    assert [t for t in await identity.event_types(account_id)] == [
        "identity.account.registered",
        "identity.account.facts_changed",  # ids and flags only: nothing of hers to scrub
        "identity.account.activated",
        "identity.account.deleted",
        "identity.session.revoked",
    ]
    assert "identity.contact.changed" in await identity.event_types(keeper_id)
    assert (await identity.call("GET", "/me", token=token))[0] == 404
    await identity.login(tenant, "keeper@example.test")
    del admin


async def test_an_admin_deletes_an_account_and_its_recruits_lose_their_sponsor(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    _, other_admin = await identity.create_tenant()
    email = "wilhelmina@example.test"
    created = await identity.invite(
        admin, email, ["seller"], initial_password=PASSWORD, card_number="W1LH3LM1", **DELETED_PERSON
    )
    sponsor_id = created["account_id"]
    sponsor = await identity.login(tenant, email)
    status, recruit = await identity.call(
        "POST",
        "/accounts/me/team",
        {"email": "recruit@example.test", **DELETED_PERSON, "first_name": "Rita"},
        token=sponsor,
    )
    assert status == 201, recruit
    _, partner = await identity.activated(tenant, "claire@example.test")
    path = f"/accounts/{sponsor_id}"

    assert (await identity.call("DELETE", path, token=partner))[0] == 403
    assert (await identity.call("DELETE", path, token=other_admin))[0] == 404
    assert (await identity.call("DELETE", f"/accounts/{uuid.uuid4()}", token=admin))[0] == 404
    assert (await identity.call("DELETE", path, token=admin))[0] == 204
    assert (await identity.call("DELETE", path, token=admin))[0] == 404

    assert await identity.rows_holding([email, "W1LH3LM1", created["registration_number"]]) == []
    sponsor_of_recruit = await identity.db.fetchval(
        "SELECT sponsor_id FROM accounts WHERE account_id = $1", uuid.UUID(recruit["account_id"])
    )
    assert sponsor_of_recruit is None
    [deleted] = await deleted_events(identity, sponsor_id)
    assert deleted["data"]["reason"] == "closed"


async def test_a_tenant_cannot_lose_its_last_admin(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    status, me = await identity.call("GET", "/me", token=admin)
    status, problem = await identity.call("DELETE", "/me", {"password": PASSWORD}, token=admin)
    assert status == 409 and problem["type"] == "urn:comptoir:problem:last-admin"
    status, problem = await identity.call("DELETE", f"/accounts/{me['account_id']}", token=admin)
    assert status == 409
    await identity.member(tenant, admin, "second@example.test", ["admin"])
    assert (await identity.call("DELETE", "/me", {"password": PASSWORD}, token=admin))[0] == 204
