"""Accounts opened by someone else (an admin's invitation, a seller's recruit, a shop's customer),
the listings of accounts, and one's own profile."""

from __future__ import annotations

import uuid

import pytest

from services.identity.tests.conftest import PASSWORD, PERSON, Identity

pytestmark = pytest.mark.fast


async def test_an_invited_account_has_no_password_until_its_owner_chooses_one(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    marche = await identity.organisation(admin, "C-1001")
    created = await identity.invite(
        admin, "vic@marche.test", ["validator", "partner"], organisation_id=marche
    )
    assert created["status"] == "pending" and created["registration_number"] == "00000002"
    account_id = created["account_id"]
    stored = await identity.db.fetchrow(
        "SELECT password_hash, roles, organisation_id FROM accounts WHERE account_id = $1",
        uuid.UUID(account_id),
    )
    assert stored["password_hash"] is None and stored["roles"] == ["validator", "partner"]
    assert str(stored["organisation_id"]) == marche
    [request] = await identity.requests(account_id)
    assert request["channel"] == "email" and request["email"] == "vic@marche.test"

    link = await identity.activation_link(account_id)
    status, problem = await identity.call("GET", link)
    assert status == 409 and problem["type"] == "urn:comptoir:problem:password-required"
    assert "password" in problem["detail"]
    status, _ = await identity.call("POST", "/activations", {"token": link.rsplit("/", 1)[1]})
    assert status == 409
    status, body = await identity.call(
        "POST", "/activations", {"token": link.rsplit("/", 1)[1], "password": PASSWORD}
    )
    assert (status, body) == (200, {"account_id": account_id, "status": "active"})
    token = await identity.login(tenant, "vic@marche.test")
    status, me = await identity.call("GET", "/me", token=token)
    assert me["has_password"] and not me["password_change_required"]


async def test_an_initial_password_given_in_person_is_never_sent_and_may_have_to_change(
    identity: Identity,
) -> None:
    _, admin = await identity.create_tenant()
    await identity.settings(admin, password_change_at_first_login=True)
    created = await identity.invite(admin, "buyer@b2b.test", ["partner"], initial_password="Given-By-Sales-1")
    assert created["status"] == "active"
    account_id = created["account_id"]
    assert await identity.event_types(account_id) == [
        "identity.account.registered",
        "identity.contact.changed",
        "identity.account.facts_changed",
        "identity.account.activated",
    ]
    rows = await identity.db.fetch("SELECT convert_from(payload, 'UTF8') AS text FROM outbox")
    assert not [row for row in rows if "Given-By-Sales-1" in row["text"]]
    required = await identity.db.fetchval(
        "SELECT password_change_required FROM accounts WHERE account_id = $1", uuid.UUID(account_id)
    )
    assert required is True

    # The tenant not asking for it, an initial password needs no change.
    other, other_admin = await identity.create_tenant()
    created = await identity.invite(
        other_admin, "buyer@b2b.test", ["partner"], initial_password="Given-By-Sales-1"
    )
    required = await identity.db.fetchval(
        "SELECT password_change_required FROM accounts WHERE account_id = $1",
        uuid.UUID(created["account_id"]),
    )
    assert required is False
    await identity.login(other, "buyer@b2b.test", "Given-By-Sales-1")


async def test_bad_invitations_are_refused(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    _, partner = await identity.activated(tenant, "claire@pharmacie.test")
    body = {"email": "new@example.test", "display_name": "New", "roles": ["partner"]}
    for change, field in (
        ({"roles": ["root"]}, "roles.0"),
        ({"roles": []}, "roles"),
        ({"roles": ["validator"]}, "roles"),
        ({"organisation_id": str(uuid.uuid4())}, "organisation_id"),
        ({"initial_password": "weakweak"}, "initial_password"),
        ({"card_number": "no spaces!"}, "card_number"),
        ({"email": "claire@pharmacie.test"}, None),  # taken: 409
    ):
        status, problem = await identity.call("POST", "/accounts/invitations", body | change, token=admin)
        if field is None:
            assert status == 409 and problem["type"] == "urn:comptoir:problem:email-taken"
        else:
            assert status == 422 and field in [e["field"] for e in problem["errors"]], (change, problem)
    assert (await identity.call("POST", "/accounts/invitations", body, token=partner))[0] == 403
    count = await identity.db.fetchval(
        "SELECT count(*) FROM accounts WHERE tenant_id = $1 AND email = 'new@example.test'", tenant
    )
    assert count == 0


async def test_a_seller_registers_recruits_into_her_team_and_sees_her_downline(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    sponsor_id, sponsor = await identity.member(tenant, admin, "olga@team.test", ["seller"])
    body = {"email": "anna@team.test"} | PERSON
    status, created = await identity.call("POST", "/accounts/me/team", body, token=sponsor)
    assert status == 201 and created["status"] == "pending", created
    recruit_id = created["account_id"]
    # A recruit's activation link goes by SMS, and she chooses her password with it.
    [request] = await identity.requests(recruit_id)
    assert request["channel"] == "sms" and request["phone"] == "+33612345678" and request["email"] is None
    token = await identity.latest_token(recruit_id)
    assert (await identity.call("GET", f"/activations/{token}"))[0] == 409
    assert (await identity.call("POST", "/activations", {"token": token, "password": PASSWORD}))[0] == 200
    recruit = await identity.login(tenant, "anna@team.test")
    status, me = await identity.call("GET", "/me", token=recruit)
    assert me["sponsor_id"] == sponsor_id and me["roles"] == ["seller"]

    # Her recruit recruits in turn: the sponsor sees both, by depth.
    body = {"email": "ira@team.test", "activation_channel": "email"} | PERSON
    status, grandchild = await identity.call("POST", "/accounts/me/team", body, token=recruit)
    assert status == 201, grandchild
    status, team = await identity.call("GET", "/accounts/me/team", token=sponsor)
    assert status == 200
    assert [(m["account_id"], m["depth"], m["sponsor_id"]) for m in team] == [
        (recruit_id, 1, sponsor_id),
        (grandchild["account_id"], 2, recruit_id),
    ]
    assert team[0]["display_name"] == "Anna Ivanova" and "email" not in team[0] and "phone" not in team[0]
    status, team = await identity.call("GET", "/accounts/me/team", token=recruit)
    assert [m["account_id"] for m in team] == [grandchild["account_id"]]


async def test_a_recruit_needs_every_seed_001_field_and_only_sellers_recruit(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    _, sponsor = await identity.member(tenant, admin, "olga@team.test", ["seller"])
    full = {"email": "anna@team.test"} | PERSON
    for missing in ("first_name", "last_name", "birth_date", "address", "phone"):
        body = {k: v for k, v in full.items() if k != missing}
        status, problem = await identity.call("POST", "/accounts/me/team", body, token=sponsor)
        assert status == 422 and [e["field"] for e in problem["errors"]] == [missing], problem
    status, problem = await identity.call(
        "POST", "/accounts/me/team", full | {"password": PASSWORD}, token=sponsor
    )
    assert status == 422  # the recruit chooses her own password, nobody else
    status, problem = await identity.call(
        "POST", "/accounts/me/team", full | {"roles": ["admin"]}, token=sponsor
    )
    assert status == 422
    for token in (admin, (await identity.activated(tenant, "claire@pharmacie.test"))[1]):
        assert (await identity.call("POST", "/accounts/me/team", full, token=token))[0] == 403
        assert (await identity.call("GET", "/accounts/me/team", token=token))[0] == 403
    count = await identity.db.fetchval(
        "SELECT count(*) FROM accounts WHERE tenant_id = $1 AND email = 'anna@team.test'", tenant
    )
    assert count == 0


async def test_a_shop_registers_a_customer_with_or_without_a_card(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    _, shop = await identity.member(tenant, admin, "shop@boutique.test", ["shop"])
    status, without = await identity.call(
        "POST",
        "/accounts/customers",
        {"email": "marie@example.test", "first_name": "Marie", "last_name": "Curie"},
        token=shop,
    )
    assert status == 201 and without["status"] == "pending", without
    card = without["card_number"]
    assert len(card) == 16 and card.isdigit()
    [request] = await identity.requests(without["account_id"])
    assert request["channel"] == "email" and request["email"] == "marie@example.test"
    assert request["display_name"] == "Marie Curie" and "activation_url" in request

    status, given = await identity.call(
        "POST",
        "/accounts/customers",
        {"email": "paul@example.test", "display_name": "Paul", "card_number": "ab1234cd"},
        token=admin,
    )
    assert status == 201 and given["card_number"] == "AB1234CD"
    status, problem = await identity.call(
        "POST",
        "/accounts/customers",
        {"email": "jean@example.test", "display_name": "Jean", "card_number": "AB1234CD"},
        token=shop,
    )
    assert status == 409 and problem["type"] == "urn:comptoir:problem:card-number-taken"
    # The customer chooses her password at activation, then logs in with her card number.
    token = await identity.latest_token(without["account_id"])
    assert (await identity.call("POST", "/activations", {"token": token, "password": PASSWORD}))[0] == 200
    status, session = await identity.call(
        "POST", "/sessions", {"tenant_id": tenant, "login": card, "password": PASSWORD}
    )
    assert status == 200, session
    customer = session["access_token"]
    assert (
        await identity.call(
            "POST", "/accounts/customers", {"email": "x@y.test", "display_name": "X"}, token=customer
        )
    )[0] == 403


async def test_admins_list_the_tenants_accounts_and_validators_their_organisations(
    identity: Identity,
) -> None:
    tenant, admin = await identity.create_tenant()
    _, other_admin = await identity.create_tenant()
    marche = await identity.organisation(admin, "C-1001")
    claire_id, claire = await identity.member(
        tenant, admin, "claire@marche.test", ["partner"], organisation_id=marche
    )
    victor_id, victor = await identity.member(
        tenant, admin, "victor@marche.test", ["validator"], organisation_id=marche
    )
    pending = (await identity.invite(admin, "paul@elsewhere.test", ["customer"]))["account_id"]
    status, me = await identity.call("GET", "/me", token=admin)
    admin_id = me["account_id"]

    status, listed = await identity.call("GET", "/accounts", token=admin)
    assert status == 200 and [a["account_id"] for a in listed] == [admin_id, claire_id, victor_id, pending]
    for query, expected in (
        ("?role=partner", [claire_id]),
        ("?status=pending", [pending]),
        (f"?organisation_id={marche}", [claire_id, victor_id]),
        ("?q=ELSEWHERE", [pending]),
        ("?q=00000003", [victor_id]),
        ("?q=%25", []),  # a literal %, not a wildcard
        ("?limit=2&offset=1", [claire_id, victor_id]),
    ):
        status, listed = await identity.call("GET", "/accounts" + query, token=admin)
        assert status == 200 and [a["account_id"] for a in listed] == expected, query
    status, listed = await identity.call("GET", "/accounts", token=victor)
    assert status == 200 and [a["account_id"] for a in listed] == [claire_id, victor_id]
    status, listed = await identity.call("GET", f"/accounts?organisation_id={uuid.uuid4()}", token=victor)
    assert (status, listed) == (200, [])
    status, listed = await identity.call("GET", "/accounts", token=other_admin)
    assert claire_id not in [a["account_id"] for a in listed]
    assert (await identity.call("GET", "/accounts", token=claire))[0] == 403
    for query in ("?role=god", "?status=gone", "?limit=500", "?organisation_id=x", "?colour=red"):
        assert (await identity.call("GET", "/accounts" + query, token=admin))[0] == 422, query


async def test_an_account_is_read_by_its_owner_its_validator_and_the_tenants_admins(
    identity: Identity,
) -> None:
    tenant, admin = await identity.create_tenant()
    _, other_admin = await identity.create_tenant()
    marche = await identity.organisation(admin, "C-1001")
    gare = await identity.organisation(admin, "C-2002")
    claire_id, claire = await identity.member(
        tenant, admin, "claire@marche.test", ["partner"], organisation_id=marche
    )
    _, colleague = await identity.member(
        tenant, admin, "zoe@marche.test", ["partner"], organisation_id=marche
    )
    _, victor = await identity.member(
        tenant, admin, "victor@marche.test", ["validator"], organisation_id=marche
    )
    _, vera = await identity.member(tenant, admin, "vera@gare.test", ["validator"], organisation_id=gare)
    path = f"/accounts/{claire_id}"

    for token in (admin, claire, victor):
        status, seen = await identity.call("GET", path, token=token)
        assert status == 200 and seen["email"] == "claire@marche.test" and "passport" not in seen
    for token in (colleague, vera, other_admin):  # same organisation but SELF only; other org; other tenant
        status, problem = await identity.call("GET", path, token=token)
        assert status == 404 and problem["type"] == "urn:comptoir:problem:not-found"
    assert (await identity.call("GET", f"/accounts/{uuid.uuid4()}", token=admin))[0] == 404
    assert (await identity.call("GET", "/accounts/not-an-id", token=admin))[0] == 404


async def test_the_owner_edits_her_details_and_a_new_contact_is_announced(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    account_id, token = await identity.activated(tenant, "claire@pharmacie.test")
    await identity.member(tenant, admin, "taken@pharmacie.test", ["partner"])
    before = len(await identity.published(account_id))

    status, me = await identity.call("PATCH", "/me", PERSON | {"locale": "en"}, token=token)
    assert status == 200, me
    assert (me["first_name"], me["phone"], me["passport"], me["address"]["country"]) == (
        "Anna",
        "+33612345678",
        "4510 123456",
        "FR",
    )
    assert me["display_name"] == "Claire"  # kept: only the fields sent change
    address = {"line2": None} | me["address"]  # the contact carries it, for ordering's address book
    status, me = await identity.call(
        "PATCH", "/me", {"email": "claire.new@pharmacie.test", "passport": None}, token=token
    )
    assert status == 200 and me["email"] == "claire.new@pharmacie.test" and me["passport"] is None
    contacts = [
        e["data"]
        for t, _, e in (await identity.published(account_id))[before:]
        if t == "internal.identity.contact.v1"
    ]
    assert contacts == [
        {
            "account_id": account_id,
            "email": "claire@pharmacie.test",
            "display_name": "Claire",
            "locale": "en",
            "phone": "+33612345678",
            "address": address,
        },
        {
            "account_id": account_id,
            "email": "claire.new@pharmacie.test",
            "display_name": "Claire",
            "locale": "en",
            "phone": "+33612345678",
            "address": address,
        },
    ]
    # Changing nothing a message goes to announces nothing.
    assert (await identity.call("PATCH", "/me", {"last_name": "Martin"}, token=token))[0] == 200
    assert len(await identity.published(account_id)) == before + 2
    await identity.login(tenant, "claire.new@pharmacie.test")

    for body, field in (
        ({"email": None}, "email"),
        ({"display_name": None}, "display_name"),
        ({"phone": "123"}, "phone"),
        ({"birth_date": "2030-01-01"}, "birth_date"),
        ({"roles": ["admin"]}, "roles"),
        ({"registration_number": "1"}, "registration_number"),
    ):
        status, problem = await identity.call("PATCH", "/me", body, token=token)
        assert status == 422 and [e["field"] for e in problem["errors"]] == [field], (body, problem)
    status, problem = await identity.call("PATCH", "/me", {"email": "TAKEN@pharmacie.test"}, token=token)
    assert status == 409 and problem["type"] == "urn:comptoir:problem:email-taken"
    assert (await identity.call("PATCH", "/me", {"last_name": "X"}))[0] == 401
