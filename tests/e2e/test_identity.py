"""Every account workflow of identity, end to end through the gateway: emails in the SMTP sink, SMS
in the SMS sink, tokens checked by the other services. Rules that need a moved clock (code and link
expiry, inactivity deletion) are proven in identity's own suite, where the clock is injectable."""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from typing import Any

import pytest

from libs.devstack.devrun import Platform
from tests.e2e.conftest import (
    PASSWORD,
    RECOVERY_CODE_TTL_S,
    Api,
    eventually,
    mail_text,
    rows_holding,
)

pytestmark = [pytest.mark.asyncio(loop_scope="package"), pytest.mark.slow]

NEW_PASSWORD = "Brand-New-Pass-7"
LINK = re.compile(r"https?://\S+/activations/([\w-]+)")
CODE = re.compile(r"\b(\d{6})\b")


def _phone() -> str:
    return f"+336{random.randrange(10**7, 10**8)}"


def _person(tenant: str, **extra: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    return {
        "email": f"person-{tag}@{tenant}.test",
        "first_name": f"Zéphyrine{tag}",
        "last_name": f"Oriflamme{tag}",
        "birth_date": "1988-03-14",
        "address": {"line1": f"{tag} rue des Lilas", "postal_code": "69003", "city": "Lyon", "country": "FR"},
        "phone": _phone(),
        "locale": "fr",
        **extra,
    }


async def _sms_to(api: Api, phone: str, pattern: re.Pattern[str], after: int = 0) -> str:
    """The first match of `pattern` in the SMS sent to `phone` (skipping the first `after` SMS)."""

    async def found() -> str | None:
        assert api.stack.sms is not None
        texts = [sms.text for sms in api.stack.sms.messages() if sms.to == phone][after:]
        return next((m.group(1) for text in texts if (m := pattern.search(text))), None)

    return await eventually(found, f"an SMS to {phone}")


async def _mail_to(api: Api, address: str, pattern: re.Pattern[str], after: int = 0) -> str:
    async def found() -> str | None:
        texts = [mail_text(m) for m in api.mails_to(address)][after:]
        return next((m.group(1) for text in texts if (m := pattern.search(text))), None)

    return await eventually(found, f"an email to {address}")


async def _login(api: Api, tenant: str, login: str, password: str = PASSWORD) -> tuple[int, Any]:
    return await api.call(
        "POST", "/api/identity/sessions", json={"tenant_id": tenant, "login": login, "password": password}
    )


async def _settings(api: Api, admin: str, **changes: Any) -> dict[str, Any]:
    _, current = await api.call("GET", "/api/identity/tenant/settings", token=admin, expect=200)
    _, updated = await api.call(
        "PUT", "/api/identity/tenant/settings", token=admin, expect=200, json=current | changes
    )
    return dict(updated)


async def _invite(api: Api, admin: str, tenant: str, role: str, **extra: Any) -> dict[str, Any]:
    """An account of `role` with every registration field, created by the admin with an initial
    password: the account, its email and phone."""
    person = _person(tenant) | extra
    email, organisation_id = person.pop("email"), person.pop("organisation_id", None)
    account = await api.invite(admin, email, role, organisation_id, **person)
    return account | {"email": email, "phone": person["phone"]}


async def test_a_partner_registers_with_her_customer_code_under_the_tenant_policy_and_logs_in_by_number(
    api: Api, unique: str
) -> None:
    tenant = f"id-reg-{unique}"
    admin = await api.create_tenant(tenant)
    _, current = await api.call("GET", "/api/identity/tenant/settings", token=admin, expect=200)
    status, bad = await api.call(
        "PUT", "/api/identity/tenant/settings", token=admin, json=current | {"lockout_threshold": 0}
    )
    assert status == 422 and [e["field"] for e in bad["errors"]] == ["lockout_threshold"], bad
    await _settings(api, admin, password_min_length=10)
    _, organisation = await api.call(
        "POST",
        "/api/identity/organisations",
        token=admin,
        expect=201,
        json={"name": "Pharmacie du Marché", "customer_code": "PH-0042"},
    )
    person = _person(tenant, tenant_id=tenant, password="Short-1!")

    # Policy violation, then an unknown customer code: each a 422 naming its field, nothing stored.
    status, problem = await api.call(
        "POST", "/api/identity/accounts", json=person | {"customer_code": "PH-0042"}
    )
    assert status == 422 and problem["errors"][0]["field"] == "password", problem
    status, problem = await api.call(
        "POST", "/api/identity/accounts", json=person | {"password": PASSWORD + "x", "customer_code": "NOPE"}
    )
    assert status == 422 and problem["errors"][0]["field"] == "customer_code", problem
    status, problem = await api.call(
        "POST",
        "/api/identity/accounts",
        json=person | {"password": PASSWORD + "x", "customer_code": "PH-0042", "phone": "06 12"},
    )
    assert status == 422 and problem["errors"][0]["field"] == "phone", problem

    _, created = await api.call(
        "POST",
        "/api/identity/accounts",
        expect=201,
        json=person | {"password": PASSWORD + "x", "customer_code": "PH-0042"},
    )
    assert created["status"] == "pending" and re.fullmatch(r"\d{8}", created["registration_number"])
    assert (await _login(api, tenant, person["email"], PASSWORD + "x"))[0] == 403  # not activated yet

    token = await _mail_to(api, person["email"], LINK)
    await api.call("GET", f"/api/identity/activations/{token}", expect=200)
    status, session = await _login(api, tenant, created["registration_number"], PASSWORD + "x")
    assert status == 200, session
    _, me = await api.call("GET", "/api/identity/me", token=session["access_token"], expect=200)
    assert me["organisation_id"] == organisation["organisation_id"] and me["roles"] == ["partner"]
    assert me["first_name"] == person["first_name"] and me["address"]["city"] == "Lyon"
    assert (await _login(api, tenant, person["email"].upper(), PASSWORD + "x"))[0] == 200


async def test_an_account_given_an_initial_password_must_change_it_at_first_login(
    api: Api, unique: str
) -> None:
    tenant = f"id-first-{unique}"
    admin = await api.create_tenant(tenant)
    await _settings(api, admin, password_change_at_first_login=True)
    _, organisation = await api.call(
        "POST",
        "/api/identity/organisations",
        token=admin,
        expect=201,
        json={"name": "B2B", "customer_code": "C1"},
    )
    invited = await _invite(api, admin, tenant, "validator", organisation_id=organisation["organisation_id"])

    status, forced = await _login(api, tenant, invited["email"])
    assert status == 403 and forced["password_change_required"] is True, forced
    assert "access_token" not in forced
    change = {"change_token": forced["change_token"]}
    status, problem = await api.call(
        "POST", "/api/identity/sessions/password-change", json=change | {"new_password": "weak"}
    )
    assert status == 422, problem
    status, problem = await api.call(
        "POST", "/api/identity/sessions/password-change", json=change | {"new_password": PASSWORD}
    )
    assert status == 422, problem  # the same as the one the salesperson gave
    _, session = await api.call(
        "POST",
        "/api/identity/sessions/password-change",
        expect=200,
        json=change | {"new_password": NEW_PASSWORD},
    )
    await api.call("GET", "/api/ordering/orders", token=session["access_token"], expect=200)
    assert (await _login(api, tenant, invited["email"]))[0] == 401
    assert (await _login(api, tenant, invited["email"], NEW_PASSWORD))[0] == 200


async def test_a_shop_registers_a_customer_whose_card_is_generated_and_who_chooses_her_password(
    api: Api, unique: str
) -> None:
    tenant = f"id-shop-{unique}"
    admin = await api.create_tenant(tenant)
    shop = await _invite(api, admin, tenant, "shop")
    shop_token = await api.login(tenant, shop["email"])
    customer = _person(tenant)
    _, created = await api.call(
        "POST", "/api/identity/accounts/customers", token=shop_token, expect=201, json=customer
    )
    card = created["card_number"]
    assert re.fullmatch(r"\d{16}", card) and created["status"] == "pending"

    token = await _mail_to(api, customer["email"], LINK)
    # No password was ever set, so none was sent: following the link asks for one and changes nothing.
    status, problem = await api.call("GET", f"/api/identity/activations/{token}")
    assert status == 409 and problem["type"].endswith("password-required"), problem
    assert not any(PASSWORD in mail_text(m) for m in api.mails_to(customer["email"]))
    status, problem = await api.call(
        "POST", "/api/identity/activations", json={"token": token, "password": "password"}
    )
    assert status == 422, problem
    await api.call(
        "POST", "/api/identity/activations", expect=200, json={"token": token, "password": PASSWORD}
    )
    status, session = await _login(api, tenant, card)
    assert status == 200, session
    # A customer cannot register customers; a shop can, and only in its own tenant.
    status, _ = await api.call(
        "POST", "/api/identity/accounts/customers", token=session["access_token"], json=_person(tenant)
    )
    assert status == 403


async def test_a_seller_registers_a_recruit_into_her_team_who_activates_from_an_sms_link(
    api: Api, unique: str
) -> None:
    tenant = f"id-team-{unique}"
    admin = await api.create_tenant(tenant)
    seller = await _invite(api, admin, tenant, "seller")
    seller_token = await api.login(tenant, seller["email"])
    recruit = _person(tenant, activation_channel="sms")
    _, created = await api.call(
        "POST", "/api/identity/accounts/me/team", token=seller_token, expect=201, json=recruit
    )
    token = await _sms_to(api, recruit["phone"], LINK)
    await api.call(
        "POST", "/api/identity/activations", expect=200, json={"token": token, "password": PASSWORD}
    )
    status, session = await _login(api, tenant, created["registration_number"])
    assert status == 200, session
    _, team = await api.call("GET", "/api/identity/accounts/me/team", token=seller_token, expect=200)
    assert [member["account_id"] for member in team] == [created["account_id"]]
    # The recruit is a seller of her own, with an empty team; the seller's team is not hers to see.
    _, own = await api.call(
        "GET", "/api/identity/accounts/me/team", token=session["access_token"], expect=200
    )
    assert own == []
    missing = dict(_person(tenant, activation_channel="sms"))
    del missing["birth_date"]
    status, problem = await api.call(
        "POST", "/api/identity/accounts/me/team", token=seller_token, json=missing
    )
    assert status == 422 and problem["errors"][0]["field"] == "birth_date", problem


async def test_activation_by_sms_code_dies_after_too_many_wrong_codes_and_a_resent_one_works(
    api: Api, unique: str
) -> None:
    tenant = f"id-code-{unique}"
    await api.create_tenant(tenant)
    person = _person(
        tenant, tenant_id=tenant, password=PASSWORD, activation_channel="sms", activation_method="code"
    )
    await api.call("POST", "/api/identity/accounts", expect=201, json=person)
    code = await _sms_to(api, person["phone"], CODE)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    attempt = {"tenant_id": tenant, "login": person["email"], "code": wrong}
    statuses = [(await api.call("POST", "/api/identity/activations/code", json=attempt))[0] for _ in range(6)]
    assert statuses[0] == 422 and statuses[-1] == 410, statuses
    status, _ = await api.call("POST", "/api/identity/activations/code", json=attempt | {"code": code})
    assert status == 410  # the right code, too late: it died of the wrong guesses

    # Unknown or known, a resend answers the same; the known one gets a new code.
    await asyncio.sleep(1.2)  # the resend interval (1 s in this platform)
    for login in (person["email"], f"nobody-{unique}@{tenant}.test"):
        _, answer = await api.call(
            "POST",
            "/api/identity/activations/resend",
            expect=202,
            json={"tenant_id": tenant, "login": login, "channel": "sms", "method": "code"},
        )
        assert answer == {"status": "accepted"}
    fresh = await _sms_to(api, person["phone"], CODE, after=1)
    await api.call("POST", "/api/identity/activations/code", expect=200, json=attempt | {"code": fresh})
    assert (await _login(api, tenant, person["email"]))[0] == 200


async def test_repeated_failures_lock_the_account_with_a_clear_message_until_an_admin_unlocks_it(
    api: Api, unique: str
) -> None:
    tenant = f"id-lock-{unique}"
    admin = await api.create_tenant(tenant)
    await _settings(api, admin, lockout_threshold=3, lockout_minutes=None)
    partner = await _invite(api, admin, tenant, "partner")
    unknown = await _login(api, tenant, f"nobody-{unique}@{tenant}.test")
    wrong = await _login(api, tenant, partner["email"], "Wrong-Pass-1")
    assert unknown[0] == wrong[0] == 401 and unknown[1]["detail"] == wrong[1]["detail"]
    assert (await _login(api, tenant, partner["email"], "Wrong-Pass-1"))[0] == 401
    assert (await _login(api, tenant, partner["email"], "Wrong-Pass-1"))[0] in (401, 423)  # the third

    status, locked = await _login(api, tenant, partner["email"])  # even the right password
    assert status == 423 and "administrator" in locked["detail"], locked
    await api.call("POST", f"/api/identity/accounts/{partner['account_id']}/unlock", token=admin, expect=204)
    assert (await _login(api, tenant, partner["email"]))[0] == 200


async def test_recovery_by_code_sets_a_new_password_and_ends_every_session(api: Api, unique: str) -> None:
    tenant = f"id-rec-{unique}"
    admin = await api.create_tenant(tenant)
    partner = await _invite(api, admin, tenant, "partner")
    _, session = await _login(api, tenant, partner["email"])

    answers = []
    for login in (partner["email"], f"nobody-{unique}@{tenant}.test", partner["phone"]):
        status, body = await api.call(
            "POST", "/api/identity/recoveries", json={"tenant_id": tenant, "login": login, "channel": "both"}
        )
        answers.append((status, body))
    assert answers[0] == answers[1] and answers[0][0] == 202
    code = await _sms_to(api, partner["phone"], CODE)
    assert await _mail_to(api, partner["email"], CODE) == code
    confirm = {"tenant_id": tenant, "login": partner["email"], "new_password": NEW_PASSWORD}
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert (await api.call("POST", "/api/identity/recoveries/confirm", json=confirm | {"code": wrong}))[
        0
    ] == 400
    status, problem = await api.call(
        "POST", "/api/identity/recoveries/confirm", json=confirm | {"code": code, "new_password": "weak"}
    )
    assert status == 422, problem
    await api.call("POST", "/api/identity/recoveries/confirm", expect=204, json=confirm | {"code": code})
    assert (await api.call("POST", "/api/identity/recoveries/confirm", json=confirm | {"code": code}))[
        0
    ] == 400

    status, _ = await api.call(
        "POST", "/api/identity/sessions/refresh", json={"refresh_token": session["refresh_token"]}
    )
    assert status == 401  # the session opened before the recovery is over
    assert (await _login(api, tenant, partner["email"]))[0] == 401
    assert (await _login(api, tenant, partner["email"], NEW_PASSWORD))[0] == 200


async def test_an_expired_recovery_code_is_refused_like_a_wrong_one(api: Api, unique: str) -> None:
    tenant = f"id-expiry-{unique}"
    admin = await api.create_tenant(tenant)
    partner = await _invite(api, admin, tenant, "partner")
    await api.call(
        "POST",
        "/api/identity/recoveries",
        expect=202,
        json={"tenant_id": tenant, "login": partner["email"], "channel": "sms"},
    )
    code = await _sms_to(api, partner["phone"], CODE)
    await asyncio.sleep(RECOVERY_CODE_TTL_S + 0.5)
    confirm = {"tenant_id": tenant, "login": partner["email"], "code": code, "new_password": NEW_PASSWORD}
    status, problem = await api.call("POST", "/api/identity/recoveries/confirm", json=confirm)
    assert status == 400, problem
    assert (await _login(api, tenant, partner["email"]))[0] == 200  # nothing changed


async def test_refresh_tokens_rotate_and_a_reused_one_ends_its_whole_family(api: Api, unique: str) -> None:
    tenant = f"id-refresh-{unique}"
    admin = await api.create_tenant(tenant)
    partner = await _invite(api, admin, tenant, "partner")

    async def refresh(token: str) -> tuple[int, Any]:
        return await api.call("POST", "/api/identity/sessions/refresh", json={"refresh_token": token})

    _, first = await _login(api, tenant, partner["email"])
    status, second = await refresh(first["refresh_token"])
    assert status == 200 and second["refresh_token"] != first["refresh_token"]
    await api.call("GET", "/api/loyalty/accounts/me", token=second["access_token"], expect=200)
    assert (await refresh(first["refresh_token"]))[0] == 401  # reuse: a stolen token was replayed
    assert (await refresh(second["refresh_token"]))[0] == 401  # so the whole family is over

    _, other = await _login(api, tenant, partner["email"])
    await api.call(
        "POST", "/api/identity/sessions/logout", expect=204, json={"refresh_token": other["refresh_token"]}
    )
    assert (await refresh(other["refresh_token"]))[0] == 401


async def test_after_a_logout_its_access_token_is_refused_by_every_service_within_a_second(
    api: Api, unique: str
) -> None:
    tenant = f"id-logout-{unique}"
    elsewhere = await api.create_tenant(tenant)  # the admin's other session: it stays open
    _, session = await _login(api, tenant, f"admin@{tenant}.test")
    token = session["access_token"]
    paths = (
        "/api/identity/me",
        "/api/catalog/products",
        "/api/ordering/orders",
        "/api/loyalty/rules/earning",
        "/api/notify/messages",
    )
    for path in paths:
        await api.call("GET", path, token=token, expect=200)  # verified, and cached by each service

    await api.call(
        "POST", "/api/identity/sessions/logout", expect=204, json={"refresh_token": session["refresh_token"]}
    )
    deadline = asyncio.get_running_loop().time() + 1
    statuses: dict[str, int] = {}
    while True:
        statuses = {path: (await api.call("GET", path, token=token))[0] for path in paths}
        if set(statuses.values()) == {401} or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    assert statuses == dict.fromkeys(paths, 401)
    for path in paths:
        await api.call("GET", path, token=elsewhere, expect=200)


async def test_a_person_edits_her_profile_and_changes_her_password(api: Api, unique: str) -> None:
    tenant = f"id-profile-{unique}"
    admin = await api.create_tenant(tenant)
    partner = await _invite(api, admin, tenant, "partner")
    token = await api.login(tenant, partner["email"])
    status, problem = await api.call("PATCH", "/api/identity/me", token=token, json={"phone": "not a phone"})
    assert status == 422 and problem["errors"][0]["field"] == "phone"
    phone = _phone()
    _, me = await api.call(
        "PATCH", "/api/identity/me", token=token, expect=200, json={"phone": phone, "locale": "ru"}
    )
    assert (me["phone"], me["locale"]) == (phone, "ru")

    change = {"current_password": "Not-The-One-1", "new_password": NEW_PASSWORD}
    assert (await api.call("POST", "/api/identity/me/password", token=token, json=change))[0] == 422
    change["current_password"] = PASSWORD
    assert (
        await api.call("POST", "/api/identity/me/password", token=token, json=change | {"new_password": "x"})
    )[0] == 422
    await api.call("POST", "/api/identity/me/password", token=token, expect=204, json=change)
    assert (await _login(api, tenant, partner["email"], NEW_PASSWORD))[0] == 200


async def test_tokens_of_a_rotated_key_stay_valid_in_every_service(api: Api, unique: str) -> None:
    tenant = f"id-keys-{unique}"
    admin = await api.create_tenant(tenant)
    status, _ = await api.call("POST", "/api/identity/signing-keys/rotate")
    assert status == 403
    _, rotation = await api.call(
        "POST", "/api/identity/signing-keys/rotate", expect=200, headers={"X-Platform-Key": api.platform_key}
    )
    _, jwks = await api.call("GET", "/api/identity/.well-known/jwks.json", expect=200)
    assert rotation["kid"] in {key["kid"] for key in jwks["keys"]}  # published before it signs
    for path in (
        "/api/ordering/orders",
        "/api/loyalty/rules/earning",
        "/api/notify/messages",
        "/api/identity/me",
    ):
        await api.call("GET", path, token=admin, expect=200)


async def test_closing_an_account_erases_the_person_from_every_service(
    api: Api, platform: Platform, unique: str
) -> None:
    tenant = f"id-close-{unique}"
    admin = await api.create_tenant(tenant)
    partner = await _invite(api, admin, tenant, "partner", passport=f"PP{unique}")
    token = await api.login(tenant, partner["email"])
    _, me = await api.call("GET", "/api/identity/me", token=token, expect=200)
    product = await api.create_product(admin, f"ER-{unique}", 1500)
    await api.order(token, [{"code": product["code"], "quantity": 1}])
    await api.call(
        "POST", "/api/identity/recoveries", expect=202, json={"tenant_id": tenant, "login": partner["email"]}
    )
    await _sms_to(api, partner["phone"], CODE)
    personal = [
        me["email"],
        me["phone"],
        me["first_name"],
        me["last_name"],
        me["address"]["line1"],
        me["passport"],
    ]  # (not the registration number: 8 digits counted per tenant, other tenants' people have it too)

    async def spread() -> bool:  # the order copy, points and recovery messages reached notify
        return len(await rows_holding(platform, [me["email"]])) >= 3

    await eventually(spread, "the person's data to reach every service")
    assert (await api.call("DELETE", "/api/identity/me", token=token, json={"password": "Wrong-Pass-1"}))[
        0
    ] == 403
    await api.call("DELETE", "/api/identity/me", token=token, expect=204, json={"password": PASSWORD})

    async def erased() -> list[str] | None:
        left = await rows_holding(platform, personal)
        return None if left else ["erased"]

    try:
        await eventually(erased, "every service to erase the person")
    except AssertionError:
        raise AssertionError("\n".join(await rows_holding(platform, personal))) from None
    assert (await _login(api, tenant, partner["email"]))[0] == 401

    async def closed() -> dict[str, Any] | None:
        _, account = await api.call("GET", f"/api/loyalty/accounts/{me['account_id']}", token=admin)
        return account if account.get("closed_at") else None

    assert (await eventually(closed, "loyalty to close the points account"))["balance"] == 0
