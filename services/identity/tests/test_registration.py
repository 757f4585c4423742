"""Registering a partner account, and activating it with the link notify is asked to email."""

from __future__ import annotations

import hashlib
import uuid

from services.identity.tests.conftest import ACTIVATION_PREFIX, PASSWORD, Identity


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
        ("identity.contact.v1", "identity.contact.changed"),
        ("notify.requests.v1", "identity.activation.requested"),
    ]
    assert all(key == account_id and event["tenantid"] == tenant for _, key, event in published)
    registered, contact, request = (event["data"] for _, _, event in published)
    assert registered.pop("registered_at")
    assert registered == {"account_id": account_id, "roles": ["partner"], "organisation_id": None}
    assert contact == {
        "account_id": account_id,
        "email": "Claire@Pharmacie.test",
        "display_name": "Claire",
        "locale": "ru",
        "phone": None,
    }
    url = request.pop("activation_url")
    assert url.startswith("http://127.0.0.1:8080" + ACTIVATION_PREFIX)
    assert request == contact | {"channel": "email"}

    # The token is a secret: only notify's internal request carries it; the password goes nowhere.
    token = url.rsplit("/", 1)[1]
    rows = await identity.db.fetch("SELECT topic, convert_from(payload, 'UTF8') AS text FROM outbox")
    assert [row["topic"] for row in rows if token in row["text"]] == ["notify.requests.v1"]
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
    assert await identity.db.fetchval("SELECT count(*) FROM outbox WHERE topic = 'notify.requests.v1'") == 0


async def test_a_replayed_registration_answers_the_same_account_and_creates_one(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    first = await identity.register(tenant, "claire@pharmacie.test", idempotency_key="reg-1")
    again = await identity.register(tenant, "claire@pharmacie.test", idempotency_key="reg-1")

    assert first[0] == again[0] == 201
    assert first[1] == again[1]
    assert await identity.db.fetchval("SELECT count(*) FROM accounts WHERE roles = '{partner}'") == 1
    assert len(await identity.published(first[1]["account_id"])) == 3
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
