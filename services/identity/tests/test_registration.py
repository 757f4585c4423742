"""Registering a partner account, and activating it with the link notify is asked to email."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest

from services.identity.tests.conftest import ACTIVATION_PREFIX, PASSWORD, PERSON, Identity

pytestmark = pytest.mark.fast


async def test_registration_publishes_the_account_its_contact_and_an_activation_request(
    identity: Identity,
) -> None:
    tenant, _ = await identity.create_tenant()
    status, body = await identity.register(
        tenant, "Claire@Pharmacie.test", display_name="Claire", locale="ru"
    )
    assert status == 201 and body["status"] == "pending"
    account_id = body["account_id"]

    published = await identity.published(account_id)
    assert [(topic, event["type"]) for topic, _, event in published] == [
        ("identity.account.v1", "identity.account.registered"),
        ("internal.identity.contact.v1", "identity.contact.changed"),
        ("internal.identity.facts.v1", "identity.account.facts_changed"),
        ("internal.notify.requests.v1", "identity.activation.requested"),
    ]
    assert all(key == account_id and event["tenantid"] == tenant for _, key, event in published)
    registered, contact, facts, request = (event["data"] for _, _, event in published)
    assert facts.pop("changed_at")
    assert facts == {
        "account_id": account_id,
        "roles": ["partner"],
        "card_number": None,
        "professional": False,
        "shop_id": None,
        "sponsor_id": None,
    }
    assert registered.pop("registered_at")
    assert registered == {"account_id": account_id, "roles": ["partner"], "organisation_id": None}
    assert contact == {
        "account_id": account_id,
        "email": "Claire@Pharmacie.test",
        "display_name": "Claire",
        "locale": "ru",
        "phone": None,
        "address": None,
    }
    url = request.pop("activation_url")
    assert url.startswith(f"http://127.0.0.1:8080/{tenant}" + ACTIVATION_PREFIX)
    assert request == {k: v for k, v in contact.items() if k != "address"} | {"channel": "email"}

    # The token is a secret: only notify's internal request carries it; the password goes nowhere.
    token = url.rsplit("/", 1)[1]
    rows = await identity.db.fetch("SELECT topic, convert_from(payload, 'UTF8') AS text FROM outbox")
    assert [row["topic"] for row in rows if token in row["text"]] == ["internal.notify.requests.v1"]
    assert not [row for row in rows if PASSWORD in row["text"]]
    stored = await identity.db.fetchrow(
        "SELECT password_hash FROM accounts WHERE account_id = $1", uuid.UUID(account_id)
    )
    assert stored is not None and stored["password_hash"].startswith("$argon2id$")
    hashes = await identity.db.fetch("SELECT token_hash FROM activation_tokens")
    assert [row["token_hash"] for row in hashes] == [hashlib.sha256(token.encode()).digest()]


async def test_following_the_activation_link_activates_the_account_once(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    account_id = await identity.registered(tenant, "claire@pharmacie.test")
    link = await identity.activation_link(account_id)

    assert await identity.call("GET", link) == (200, {"account_id": account_id, "status": "active"})
    # Clicking again, or posting the token, is harmless: still active, no second event.
    assert await identity.call("GET", link) == (200, {"account_id": account_id, "status": "active"})
    token = link.rsplit("/", 1)[1]
    assert await identity.call("POST", "/activations", {"token": token}) == (
        200,
        {"account_id": account_id, "status": "active"},
    )
    activated = [
        e for t, _, e in await identity.published(account_id) if e["type"] == "identity.account.activated"
    ]
    assert len(activated) == 1
    assert activated[0]["data"]["account_id"] == account_id and activated[0]["data"]["activated_at"]


async def test_posting_the_token_activates_the_account(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    account_id = await identity.registered(tenant, "claire@pharmacie.test")
    token = (await identity.activation_link(account_id)).rsplit("/", 1)[1]
    assert await identity.call("POST", "/activations", {"token": token}) == (
        200,
        {"account_id": account_id, "status": "active"},
    )
    await identity.login(tenant, "claire@pharmacie.test")


async def test_an_expired_activation_link_is_410_and_activates_nothing(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    account_id = await identity.registered(tenant, "late@pharmacie.test")
    link = await identity.activation_link(account_id)
    await identity.db.execute("UPDATE activation_tokens SET expires_at = now() - interval '1 second'")

    status, problem = await identity.call("GET", link)
    assert status == 410 and problem["type"] == "urn:comptoir:problem:activation-expired"
    status, problem = await identity.call(
        "POST", "/sessions", {"tenant_id": tenant, "email": "late@pharmacie.test", "password": PASSWORD}
    )
    assert status == 403
    assert [e["type"] for _, _, e in await identity.published(account_id)][
        -1
    ] == "identity.activation.requested"


async def test_an_unknown_activation_token_is_404(identity: Identity) -> None:
    status, problem = await identity.call("GET", "/activations/not-a-real-token")
    assert status == 404 and problem["type"] == "urn:comptoir:problem:activation-not-found"
    status, _ = await identity.call("POST", "/activations", {"token": "not-a-real-token"})
    assert status == 404


async def test_an_email_is_registered_once_per_tenant_whatever_its_case(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    other, _ = await identity.create_tenant()
    await identity.registered(tenant, "claire@pharmacie.test")

    status, problem = await identity.register(tenant, "CLAIRE@pharmacie.TEST")
    assert status == 409 and problem["type"] == "urn:comptoir:problem:email-taken"
    await identity.registered(other, "claire@pharmacie.test")  # another tenant, another account
    count = await identity.db.fetchval(
        "SELECT count(*) FROM accounts WHERE lower(email) = 'claire@pharmacie.test'"
    )
    assert count == 2


async def test_an_unknown_tenant_or_organisation_is_a_422_naming_the_field(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    _, other_admin = await identity.create_tenant()
    _, foreign = await identity.call(
        "POST", "/organisations", {"name": "Elsewhere", "customer_code": "X-1"}, token=other_admin
    )

    status, problem = await identity.register("no-such-brand", "claire@pharmacie.test")
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["tenant_id"]
    for organisation_id in (str(uuid.uuid4()), foreign["organisation_id"]):
        status, problem = await identity.register(
            tenant, "claire@pharmacie.test", organisation_id=organisation_id
        )
        assert status == 422 and [e["field"] for e in problem["errors"]] == ["organisation_id"]
    assert await identity.db.fetchval("SELECT count(*) FROM accounts WHERE roles = '{partner}'") == 0


async def test_bad_input_is_a_422_that_creates_nothing_and_echoes_no_password(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    for fields in (
        {"password": "Tiny-1"},
        {"password": "x" * 129},
        {"email": "not-an-email"},
        {"locale": "de"},
        {"display_name": ""},
        {"organisation_id": "not-a-uuid"},
        {"role": "admin"},
    ):
        email = str(fields.pop("email", "claire@pharmacie.test"))
        status, problem = await identity.register(tenant, email, **fields)
        assert status == 422, (fields, problem)
        assert str(fields.get("password", PASSWORD)) not in str(problem)
    assert await identity.db.fetchval("SELECT count(*) FROM accounts WHERE roles = '{partner}'") == 0
    assert (
        await identity.db.fetchval("SELECT count(*) FROM outbox WHERE topic = 'internal.notify.requests.v1'")
        == 0
    )


async def test_a_replayed_registration_answers_the_same_account_and_creates_one(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    first = await identity.register(tenant, "claire@pharmacie.test", idempotency_key="reg-1")
    again = await identity.register(tenant, "claire@pharmacie.test", idempotency_key="reg-1")

    assert first[0] == again[0] == 201
    assert first[1] == again[1]
    assert await identity.db.fetchval("SELECT count(*) FROM accounts WHERE roles = '{partner}'") == 1
    assert len(await identity.published(first[1]["account_id"])) == 4
    status, _ = await identity.register(tenant, "someone.else@pharmacie.test", idempotency_key="reg-1")
    assert status == 422  # the key was used for another request


async def test_a_partner_of_an_organisation_carries_it_in_events_token_and_profile(
    identity: Identity,
) -> None:
    tenant, admin = await identity.create_tenant()
    _, organisation = await identity.call(
        "POST", "/organisations", {"name": "Pharmacie du Marché", "customer_code": "C-1001"}, token=admin
    )
    organisation_id = organisation["organisation_id"]
    account_id = await identity.registered(tenant, "claire@pharmacie.test", organisation_id=organisation_id)

    registered = (await identity.published(account_id))[0][2]
    assert registered["data"]["organisation_id"] == organisation_id
    status, link_body = await identity.call("GET", await identity.activation_link(account_id))
    assert status == 200, link_body
    token = await identity.login(tenant, "claire@pharmacie.test")
    status, me = await identity.call("GET", "/me", token=token)
    assert status == 200 and me["organisation_id"] == organisation_id


# --- customer code, registration fields, policy, numbers, SMS ---


async def test_a_partner_registers_with_her_organisations_customer_code(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    organisation_id = await identity.organisation(admin, "C-1001")
    status, created = await identity.register(tenant, "claire@pharmacie.test", customer_code=" C-1001 ")
    assert status == 201 and created["status"] == "pending", created
    account_id = created["account_id"]
    registered = (await identity.published(account_id))[0][2]["data"]
    assert registered["roles"] == ["partner"] and registered["organisation_id"] == organisation_id

    status, problem = await identity.register(tenant, "other@pharmacie.test", customer_code="C-9999")
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["customer_code"]
    other = await identity.organisation(admin, "C-2002")
    status, problem = await identity.register(
        tenant, "other@pharmacie.test", customer_code="C-1001", organisation_id=other
    )
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["organisation_id"]
    # Another tenant's customer code names nothing here.
    other_tenant, _ = await identity.create_tenant()
    status, _ = await identity.register(other_tenant, "other@pharmacie.test", customer_code="C-1001")
    assert status == 422


async def test_the_seed_001_fields_are_stored_and_shown_to_their_owner(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    body = {"tenant_id": tenant, "email": "anna@example.test", "password": PASSWORD, "locale": "ru"} | PERSON
    status, created = await identity.call("POST", "/accounts", body)
    assert status == 201, created
    link = await identity.activation_link(created["account_id"])
    assert (await identity.call("GET", link))[0] == 200
    token = await identity.login(tenant, "anna@example.test")
    status, me = await identity.call("GET", "/me", token=token)
    assert status == 200
    assert {
        k: me[k] for k in ("display_name", "first_name", "last_name", "birth_date", "phone", "passport")
    } == {
        "display_name": "Anna Ivanova",  # derived from the names
        "first_name": "Anna",
        "last_name": "Ivanova",
        "birth_date": "1990-04-12",
        "phone": "+33612345678",
        "passport": "4510 123456",
    }
    assert me["address"] == {
        "line1": "12 rue des Lilas",
        "line2": None,
        "postal_code": "75011",
        "city": "Paris",
        "country": "FR",
    }
    assert me["registration_number"] == created["registration_number"] and me["has_password"] is True


async def test_bad_registration_fields_are_422s_naming_each_field(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"phone": "06 12 34 56 78"}, "phone"),
        ({"phone": "+33 6 12"}, "phone"),
        ({"birth_date": "2031-01-01"}, "birth_date"),
        ({"birth_date": "1850-01-01"}, "birth_date"),
        ({"birth_date": "2024-06-01"}, "birth_date"),
        ({"birth_date": "12/04/1990"}, "birth_date"),
        ({"address": PERSON["address"] | {"country": "ZZ"}}, "address.country"),
        ({"address": PERSON["address"] | {"postal_code": ""}}, "address.postal_code"),
        ({"address": {"line1": "12 rue des Lilas"}}, "address.postal_code"),
        ({"passport": "#"}, "passport"),
        ({"first_name": ""}, "first_name"),
    ]
    for fields, field in cases:
        status, problem = await identity.register(tenant, "anna@example.test", **fields)
        assert status == 422, (fields, problem)
        assert field in [e["field"] for e in problem["errors"]], (fields, problem)
    # Neither a display name nor first and last names: nothing to greet her with.
    status, problem = await identity.call(
        "POST", "/accounts", {"tenant_id": tenant, "email": "anna@example.test", "first_name": "Anna"}
    )
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["display_name"]
    assert await identity.db.fetchval("SELECT count(*) FROM accounts WHERE roles = '{partner}'") == 0


async def test_a_password_outside_the_tenants_policy_is_a_422_saying_what_it_lacks(
    identity: Identity,
) -> None:
    tenant, admin = await identity.create_tenant()
    status, problem = await identity.register(tenant, "claire@pharmacie.test", password="alllowercase")
    assert status == 422 and problem["type"] == "urn:comptoir:problem:password-policy"
    [error] = problem["errors"]
    assert error["field"] == "password"
    assert error["lacks"] == ["an uppercase letter", "a digit", "a special character"]
    assert "alllowercase" not in str(problem)

    await identity.settings(admin, password_min_length=12, password_classes=["digit"])
    status, problem = await identity.register(tenant, "claire@pharmacie.test", password="Short-1")
    assert status == 422 and problem["errors"][0]["lacks"] == ["at least 12 characters"]
    await identity.registered(tenant, "claire@pharmacie.test", password="twelve chars 1")
    assert await identity.db.fetchval("SELECT count(*) FROM accounts WHERE roles = '{partner}'") == 1


async def test_every_account_gets_the_tenants_next_registration_number(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    other, _ = await identity.create_tenant()
    first = await identity.register(tenant, "one@example.test")
    second = await identity.register(tenant, "two@example.test")
    elsewhere = await identity.register(other, "one@example.test")
    # The admins are number 1 of their tenants.
    assert [first[1]["registration_number"], second[1]["registration_number"]] == ["00000002", "00000003"]
    assert elsewhere[1]["registration_number"] == "00000002"
    # A refused registration uses no number.
    assert (await identity.register(tenant, "ONE@example.test"))[0] == 409
    assert (await identity.register(tenant, "three@example.test"))[1]["registration_number"] == "00000004"


async def test_registering_with_the_sms_channel_sends_the_link_to_her_phone_only(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    status, problem = await identity.register(tenant, "anna@example.test", activation_channel="sms")
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["phone"]

    account_id = await identity.registered(
        tenant, "anna@example.test", activation_channel="sms", phone="+7 912 345 67 89"
    )
    [request] = await identity.requests(account_id)
    assert request["channel"] == "sms" and request["phone"] == "+79123456789" and request["email"] is None
    assert request["activation_url"].startswith(f"http://127.0.0.1:8080/{tenant}" + ACTIVATION_PREFIX)
    contact = [
        e["data"] for t, _, e in await identity.published(account_id) if t == "internal.identity.contact.v1"
    ]
    assert contact[0]["phone"] == "+79123456789"


async def test_a_partner_may_choose_her_password_at_activation_instead(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    status, created = await identity.call(
        "POST", "/accounts", {"tenant_id": tenant, "email": "anna@example.test", "display_name": "Anna"}
    )
    assert status == 201, created
    link = await identity.activation_link(created["account_id"])
    status, problem = await identity.call("GET", link)
    assert status == 409 and problem["type"] == "urn:comptoir:problem:password-required"
    token = link.rsplit("/", 1)[1]
    assert (await identity.call("POST", "/activations", {"token": token, "password": "weak"}))[0] == 422
    assert (
        await identity.db.fetchval("SELECT status FROM accounts WHERE email = 'anna@example.test'")
        == "pending"
    )
    status, body = await identity.call("POST", "/activations", {"token": token, "password": PASSWORD})
    assert (status, body["status"]) == (200, "active")
    await identity.login(tenant, "anna@example.test")
