"""Activation by numeric code, and resending an activation: expiry, attempts, replacement, limits."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from services.identity.tests.conftest import PASSWORD, Identity

pytestmark = pytest.mark.fast


PHONE = "+33612345678"


async def coded(identity: Identity, tenant: str, email: str, **fields: object) -> str:
    """A partner registered with activation by SMS code: her account id."""
    return await identity.registered(
        tenant, email, activation_method="code", activation_channel="sms", phone=PHONE, **fields
    )


async def status_of(identity: Identity, account_id: str) -> str:
    return str(
        await identity.db.fetchval("SELECT status FROM accounts WHERE account_id = $1", uuid.UUID(account_id))
    )


async def attempts(identity: Identity, account_id: str) -> int:
    return int(
        await identity.db.fetchval(
            "SELECT attempts FROM one_time_codes WHERE account_id = $1", uuid.UUID(account_id)
        )
    )


async def sent_long_ago(identity: Identity, account_id: str, seconds: int = 120) -> None:
    """As if the last activation message had gone `seconds` ago (the resend limit counts from it)."""
    await identity.db.execute(
        "UPDATE accounts SET activation_sent_at = now() - make_interval(secs => $2) WHERE account_id = $1",
        uuid.UUID(account_id),
        seconds,
    )


async def test_a_code_sent_by_sms_activates_the_account(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    account_id = await coded(identity, tenant, "anna@example.test")
    [request] = await identity.requests(account_id)
    assert request["channel"] == "sms" and request["phone"] == PHONE and request["email"] is None
    code = request["code"]
    assert len(code) == 6 and code.isdigit() and "activation_url" not in request
    expires_in = datetime.fromisoformat(request["expires_at"]) - datetime.now(
        tz=datetime.now().astimezone().tzinfo
    )
    assert timedelta(minutes=29) < expires_in <= timedelta(minutes=30)
    stored = await identity.db.fetchrow(
        "SELECT code_hash, purpose, channel FROM one_time_codes WHERE account_id = $1", uuid.UUID(account_id)
    )
    assert (stored["purpose"], stored["channel"]) == ("activation", "sms") and code.encode() not in stored[
        "code_hash"
    ]

    body = {"tenant_id": tenant, "login": "ANNA@example.test", "code": code}
    assert await identity.call("POST", "/activations/code", body) == (
        200,
        {"account_id": account_id, "status": "active"},
    )
    assert (await identity.event_types(account_id))[-1] == "identity.account.activated"
    await identity.login(tenant, "anna@example.test")
    # A code works once.
    status, problem = await identity.call("POST", "/activations/code", body)
    assert status == 422 and problem["type"] == "urn:comptoir:problem:invalid-code"


async def test_a_code_may_name_the_account_by_registration_number_or_id(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    first = await coded(identity, tenant, "anna@example.test")
    second = await coded(identity, tenant, "ira@example.test")
    number = await identity.db.fetchval(
        "SELECT registration_number FROM accounts WHERE account_id = $1", uuid.UUID(first)
    )
    ok = await identity.call(
        "POST",
        "/activations/code",
        {"tenant_id": tenant, "login": number, "code": await identity.latest_code(first)},
    )
    assert ok[0] == 200
    ok = await identity.call(
        "POST",
        "/activations/code",
        {"tenant_id": tenant, "account_id": second, "code": await identity.latest_code(second)},
    )
    assert ok[0] == 200
    for body in (
        {"tenant_id": tenant, "code": "123456"},  # neither login nor account id
        {"tenant_id": tenant, "login": "a@b.test", "account_id": second, "code": "123456"},
        {"tenant_id": tenant, "login": "a@b.test", "code": "12ab56"},
    ):
        assert (await identity.call("POST", "/activations/code", body))[0] == 422, body


async def test_wrong_codes_count_and_too_many_kill_the_code(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    account_id = await coded(identity, tenant, "anna@example.test")
    code = await identity.latest_code(account_id)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    body = {"tenant_id": tenant, "login": "anna@example.test"}
    for _ in range(5):  # the default code_attempts
        status, problem = await identity.call("POST", "/activations/code", body | {"code": wrong})
        assert status == 422 and problem["type"] == "urn:comptoir:problem:invalid-code"
    assert await attempts(identity, account_id) == 5
    status, problem = await identity.call("POST", "/activations/code", body | {"code": code})
    assert status == 410 and problem["type"] == "urn:comptoir:problem:code-exhausted"
    assert await status_of(identity, account_id) == "pending"

    # A new code replaces the dead one, with fresh attempts.
    await sent_long_ago(identity, account_id)
    resend = {"tenant_id": tenant, "login": "anna@example.test", "channel": "sms", "method": "code"}
    assert (await identity.call("POST", "/activations/resend", resend))[0] == 202
    fresh = await identity.latest_code(account_id)
    assert (await identity.call("POST", "/activations/code", body | {"code": fresh}))[0] == 200


async def test_an_expired_code_is_410_and_activates_nothing(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    account_id = await coded(identity, tenant, "anna@example.test")
    code = await identity.latest_code(account_id)
    await identity.db.execute(
        "UPDATE one_time_codes SET expires_at = now() - interval '1 second' WHERE account_id = $1",
        uuid.UUID(account_id),
    )
    status, problem = await identity.call(
        "POST", "/activations/code", {"tenant_id": tenant, "login": "anna@example.test", "code": code}
    )
    assert status == 410 and problem["type"] == "urn:comptoir:problem:code-expired"
    assert await status_of(identity, account_id) == "pending"


async def test_an_unknown_account_and_a_wrong_code_get_the_same_answer(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    await identity.registered(tenant, "linked@example.test")  # activation by link: no code
    account_id = await coded(identity, tenant, "anna@example.test")
    wrong = f"{(int(await identity.latest_code(account_id)) + 1) % 1_000_000:06d}"
    answers = [
        await identity.call("POST", "/activations/code", {"tenant_id": tenant, "login": login, "code": wrong})
        for login in ("anna@example.test", "nobody@example.test", "linked@example.test")
    ]
    answers.append(
        await identity.call(
            "POST",
            "/activations/code",
            {"tenant_id": "no-such-brand", "login": "anna@example.test", "code": wrong},
        )
    )
    assert answers[0][0] == 422 and all(answer == answers[0] for answer in answers), answers


async def test_an_account_without_password_chooses_it_with_the_code(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    created = await identity.invite(
        admin,
        "vic@example.test",
        ["partner"],
        activation_method="code",
        phone=PHONE,
        activation_channel="sms",
    )
    account_id = created["account_id"]
    code = await identity.latest_code(account_id)
    body = {"tenant_id": tenant, "login": "vic@example.test", "code": code}
    status, problem = await identity.call("POST", "/activations/code", body)
    assert status == 409 and problem["type"] == "urn:comptoir:problem:password-required"
    status, problem = await identity.call("POST", "/activations/code", body | {"password": "password"})
    assert status == 422 and problem["errors"][0]["field"] == "password"
    # Neither try used the code up nor counted against it.
    assert await attempts(identity, account_id) == 0
    assert (await identity.call("POST", "/activations/code", body | {"password": PASSWORD}))[0] == 200
    await identity.login(tenant, "vic@example.test")


async def test_a_resend_replaces_what_was_sent_and_answers_the_same_for_anyone(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    account_id = await identity.registered(tenant, "anna@example.test")
    await identity.activated(tenant, "claire@example.test")
    old_link = await identity.activation_link(account_id)
    await identity.db.execute(
        "UPDATE activation_tokens SET expires_at = now() - interval '1 second' WHERE account_id = $1",
        uuid.UUID(account_id),
    )
    assert (await identity.call("GET", old_link))[0] == 410

    await sent_long_ago(identity, account_id)
    answers = [
        await identity.call("POST", "/activations/resend", {"tenant_id": t, "login": login})
        for t, login in (
            (tenant, "anna@example.test"),
            (tenant, "nobody@example.test"),
            (tenant, "claire@example.test"),  # already active
            ("no-such-brand", "anna@example.test"),
        )
    ]
    assert answers[0] == (202, {"status": "accepted"}) and all(a == answers[0] for a in answers)
    links = await identity.requests(account_id, "identity.activation.requested")
    assert len(links) == 2
    assert (await identity.call("GET", old_link))[0] == 404  # replaced
    new_token = await identity.latest_token(account_id)
    # A code asked for next replaces the link in turn.
    await sent_long_ago(identity, account_id)
    resend = {"tenant_id": tenant, "login": "anna@example.test", "method": "code"}
    assert (await identity.call("POST", "/activations/resend", resend))[0] == 202
    assert (await identity.call("GET", f"/activations/{new_token}"))[0] == 404
    code = {"tenant_id": tenant, "login": "anna@example.test", "code": await identity.latest_code(account_id)}
    assert await identity.call("POST", "/activations/code", code) == (
        200,
        {"account_id": account_id, "status": "active"},
    )


async def test_resends_are_limited_to_one_a_minute_per_account(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    account_id = await identity.registered(tenant, "anna@example.test", phone=PHONE)
    resend = {"tenant_id": tenant, "login": "anna@example.test", "channel": "sms"}
    for _ in range(3):
        assert (await identity.call("POST", "/activations/resend", resend))[0] == 202
    assert len(await identity.requests(account_id)) == 1  # the registration's only
    await sent_long_ago(identity, account_id, seconds=61)
    assert (await identity.call("POST", "/activations/resend", resend))[0] == 202
    assert (await identity.call("POST", "/activations/resend", resend))[0] == 202
    requests = await identity.requests(account_id)
    assert [(r["channel"], r["phone"]) for r in requests] == [("email", None), ("sms", PHONE)]
    for bad in ({"login": ""}, {"channel": "fax"}, {"method": "pigeon"}, {"tenant_id": "UPPER"}):
        assert (await identity.call("POST", "/activations/resend", resend | bad))[0] == 422, bad
