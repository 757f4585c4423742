"""Logging in (identifiers, lockout, forced password change), refresh tokens, logout, changing a password."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import jwt
import pytest
from argon2 import PasswordHasher

from libs.common.api import ANY_ROLE, SELF, TENANT
from libs.common.auth import AUDIENCE, ISSUER
from services.identity.domain import TenantSettings
from services.identity.routes import keys, passwords, sessions
from services.identity.sessions import Lockout, current_lockout
from services.identity.tests.credentials_support import (
    NEW_PASSWORD,
    PASSWORD,
    Credentials,
    add_account,
    add_tenant,
    identity_in_process,
)

pytestmark = pytest.mark.fast

WRONG = "Wrong-Horse-9"


@pytest.fixture
async def ident(db: asyncpg.Connection) -> AsyncIterator[Credentials]:
    async with identity_in_process(db) as running:
        yield running


def problem_type(body: dict[str, str]) -> str:
    return body["type"].removeprefix("urn:comptoir:problem:")


# --- logging in ---


async def test_a_login_gives_tokens_the_jwks_verifies_and_a_pending_account_is_told_to_activate(
    ident: Credentials,
) -> None:
    tenant = await add_tenant(ident.db)
    account_id = await add_account(ident.db, tenant, "claire@pharmacie.test")
    await add_account(ident.db, tenant, "paul@pharmacie.test", status="pending")

    status, problem = await ident.log_in(tenant, "paul@pharmacie.test")
    assert status == 403 and problem_type(problem) == "account-not-activated"

    session = await ident.session(tenant, "CLAIRE@pharmacie.test")
    assert session["token_type"] == "Bearer" and session["expires_in"] == 900
    assert len(session["refresh_token"]) >= 43 and session["refresh_expires_in"] == 30 * 86400
    status, jwks = await ident.call("GET", "/.well-known/jwks.json")
    token = session["access_token"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == jwt.get_unverified_header(token)["kid"])
    claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER)
    assert claims["sub"] == str(account_id) and claims["tid"] == tenant and claims["roles"] == ["partner"]
    assert claims["exp"] - claims["iat"] == 900 and abs(claims["iat"] - time.time()) < 60
    # The session id is the refresh family: only its digest is stored.
    stored = await ident.db.fetchrow(
        "SELECT * FROM refresh_tokens WHERE family_id = $1", uuid.UUID(claims["sid"])
    )
    assert (
        stored["account_id"] == account_id and session["refresh_token"].encode() not in stored["token_hash"]
    )
    assert (await ident.account(account_id))["last_login_at"] is not None


async def test_the_login_may_be_the_email_registration_or_card_number_the_tenant_allows(
    ident: Credentials,
) -> None:
    tenant = await add_tenant(ident.db, login_identifiers=["email", "registration_number"])
    await add_account(
        ident.db,
        tenant,
        "claire@pharmacie.test",
        registration_number="00000042",
        card_number="7000000000000001",
    )
    assert (await ident.log_in(tenant, "00000042"))[0] == 200
    assert (await ident.log_in(tenant, " claire@PHARMACIE.test "))[0] == 200
    refused = await ident.log_in(tenant, "7000000000000001")
    assert refused[0] == 401 and problem_type(refused[1]) == "invalid-credentials"

    # The former body: an email only.
    old = {"tenant_id": tenant, "email": "claire@pharmacie.test", "password": PASSWORD}
    assert (await ident.call("POST", "/sessions", old))[0] == 200
    assert (await ident.call("POST", "/sessions", old | {"email": "00000042"}))[0] == 401

    other = await add_tenant(ident.db, login_identifiers=["card_number"])
    await add_account(ident.db, other, "paul@pharmacie.test", card_number="7000000000000002")
    assert (await ident.log_in(other, "7000000000000002"))[0] == 200
    assert (await ident.log_in(other, "paul@pharmacie.test"))[0] == 401


async def test_a_login_body_needs_exactly_one_of_login_and_email(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    status, problem = await ident.call("POST", "/sessions", {"tenant_id": tenant, "password": PASSWORD})
    assert status == 422 and problem["errors"][0]["field"] == "login"
    both = {"tenant_id": tenant, "login": "a@b.test", "email": "a@b.test", "password": PASSWORD}
    status, problem = await ident.call("POST", "/sessions", both)
    assert status == 422 and problem["errors"][0]["field"] == "email"
    status, _ = await ident.call(
        "POST", "/sessions", {"tenant_id": tenant, "login": "", "password": PASSWORD}
    )
    assert status == 422


async def test_wrong_password_unknown_login_and_no_password_get_one_401_after_the_same_hashing(
    ident: Credentials,
) -> None:
    tenant = await add_tenant(ident.db, lockout_threshold=100)
    await add_account(ident.db, tenant, "claire@pharmacie.test")
    await add_account(ident.db, tenant, "nopass@pharmacie.test", password=None)

    answers = [
        await ident.log_in(tenant, "claire@pharmacie.test", WRONG),
        await ident.log_in(tenant, "nobody@pharmacie.test"),
        await ident.log_in(tenant, "nopass@pharmacie.test"),
        await ident.log_in("no-such-brand", "claire@pharmacie.test"),
    ]
    assert answers[0][0] == 401 and all(answer == answers[0] for answer in answers)

    async def timed(login: str, password: str) -> float:
        started = time.perf_counter()
        await ident.log_in(tenant, login, password)
        return time.perf_counter() - started

    wrong, unknown = [], []
    for _ in range(4):  # interleaved: a busy moment of the machine weighs on both alike
        wrong.append(await timed("claire@pharmacie.test", WRONG))
        unknown.append(await timed("nobody@pharmacie.test", PASSWORD))
    # Both pay for one argon2id verification: an unknown login is not answered faster.
    assert statistics.median(unknown) > 0.6 * statistics.median(wrong)


async def test_failures_lock_the_account_with_a_clear_answer_until_the_lock_expires(
    ident: Credentials,
) -> None:
    tenant = await add_tenant(ident.db, lockout_threshold=3, lockout_minutes=15)
    account_id = await add_account(ident.db, tenant, "claire@pharmacie.test")

    for _ in range(2):
        assert (await ident.log_in(tenant, "claire@pharmacie.test", WRONG))[0] == 401
    locked = await ident.request(
        "POST", "/sessions", {"tenant_id": tenant, "login": "claire@pharmacie.test", "password": WRONG}
    )
    assert locked.status == 423 and problem_type(locked.body) == "account-locked"
    assert "locked until" in locked.body["detail"] and 890 <= int(locked.headers["Retry-After"]) <= 900
    # The right password changes nothing while locked (or the lock would not stop guessing).
    status, problem = await ident.log_in(tenant, "claire@pharmacie.test")
    assert status == 423 and problem == locked.body
    [(failures, locked_at)] = (await ident.failures(account_id)).values()
    assert failures == 3 and locked_at is not None

    ident.clock.advance(timedelta(minutes=15, seconds=1))
    assert (await ident.log_in(tenant, "claire@pharmacie.test"))[0] == 200
    assert await ident.failures(account_id) == {}


async def test_an_expired_lock_starts_a_new_count(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db, lockout_threshold=2, lockout_minutes=5)
    account_id = await add_account(ident.db, tenant, "claire@pharmacie.test")
    for expected in (401, 423):
        assert (await ident.log_in(tenant, "claire@pharmacie.test", WRONG))[0] == expected
    ident.clock.advance(timedelta(minutes=6))
    assert (await ident.log_in(tenant, "claire@pharmacie.test", WRONG))[0] == 401
    assert list((await ident.failures(account_id)).values()) == [(1, None)]


async def test_a_success_resets_the_failure_count(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db, lockout_threshold=3)
    await add_account(ident.db, tenant, "claire@pharmacie.test")
    for _ in range(2):
        await ident.log_in(tenant, "claire@pharmacie.test", WRONG)
    await ident.session(tenant, "claire@pharmacie.test")
    for _ in range(2):
        assert (await ident.log_in(tenant, "claire@pharmacie.test", WRONG))[0] == 401


async def test_a_lock_without_expiry_lasts_until_an_admin_unlocks_the_account(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db, lockout_threshold=2, lockout_minutes=None)
    account_id = await add_account(ident.db, tenant, "claire@pharmacie.test")
    await add_account(ident.db, tenant, "admin@pharmacie.test", roles=("admin",))
    await add_account(ident.db, tenant, "shop@pharmacie.test", roles=("shop",))
    admin = (await ident.session(tenant, "admin@pharmacie.test"))["access_token"]
    shop = (await ident.session(tenant, "shop@pharmacie.test"))["access_token"]
    other_tenant = await add_tenant(ident.db)
    await add_account(ident.db, other_tenant, "admin@other.test", roles=("admin",))
    stranger = (await ident.session(other_tenant, "admin@other.test"))["access_token"]

    for _ in range(2):
        await ident.log_in(tenant, "claire@pharmacie.test", WRONG)
    ident.clock.advance(timedelta(days=3))
    status, problem = await ident.log_in(tenant, "claire@pharmacie.test")
    assert status == 423 and "until an administrator unlocks it" in problem["detail"]

    path = f"/accounts/{account_id}/unlock"
    assert (await ident.call("POST", path))[0] == 401
    assert (await ident.call("POST", path, token=shop))[0] == 403
    assert (await ident.call("POST", path, token=stranger))[0] == 404
    assert (await ident.call("POST", f"/accounts/{uuid.uuid4()}/unlock", token=admin))[0] == 404
    assert (await ident.call("POST", "/accounts/not-a-uuid/unlock", token=admin))[0] == 404
    assert (await ident.log_in(tenant, "claire@pharmacie.test"))[0] == 423

    assert (await ident.call("POST", path, token=admin))[0] == 204
    assert (await ident.call("POST", path, token=admin))[0] == 204
    assert (await ident.log_in(tenant, "claire@pharmacie.test"))[0] == 200


async def test_a_hash_made_with_weaker_parameters_is_upgraded_at_login(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    account_id = await add_account(ident.db, tenant, "claire@pharmacie.test", password_hash=weak)
    await ident.session(tenant, "claire@pharmacie.test")
    upgraded = (await ident.account(account_id))["password_hash"]
    assert "m=19456,t=2,p=1" in upgraded
    await ident.session(tenant, "claire@pharmacie.test")


# --- forced password change ---


async def test_a_required_change_gives_a_change_token_instead_of_a_session(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    account_id = await add_account(ident.db, tenant, "b2b@client.test", password_change_required=True)

    status, problem = await ident.log_in(tenant, "b2b@client.test")
    assert status == 403 and problem_type(problem) == "password-change-required"
    assert problem["password_change_required"] is True and "access_token" not in problem
    assert problem["change_token_expires_in"] == 600
    change = {"change_token": problem["change_token"]}

    status, invalid = await ident.call(
        "POST", "/sessions/password-change", change | {"new_password": "short"}
    )
    assert status == 422 and invalid["errors"][0]["field"] == "new_password"
    status, invalid = await ident.call(
        "POST", "/sessions/password-change", change | {"new_password": PASSWORD}
    )
    assert status == 422 and invalid["errors"][0]["type"] == "password_unchanged"

    status, session = await ident.call(
        "POST", "/sessions/password-change", change | {"new_password": NEW_PASSWORD}
    )
    assert status == 200 and session["access_token"] and session["refresh_token"]
    assert (await ident.account(account_id))["password_change_required"] is False
    status, problem = await ident.call(
        "POST", "/sessions/password-change", change | {"new_password": "Other-Pass-5"}
    )
    assert status == 401 and problem_type(problem) == "change-token-invalid"
    assert (await ident.log_in(tenant, "b2b@client.test"))[0] == 401
    assert (await ident.log_in(tenant, "b2b@client.test", NEW_PASSWORD))[0] == 200


async def test_a_change_token_expires_and_only_the_latest_works(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    await add_account(ident.db, tenant, "b2b@client.test", password_change_required=True)
    first = (await ident.log_in(tenant, "b2b@client.test"))[1]["change_token"]
    latest = (await ident.log_in(tenant, "b2b@client.test"))[1]["change_token"]
    status, _ = await ident.call(
        "POST", "/sessions/password-change", {"change_token": first, "new_password": NEW_PASSWORD}
    )
    assert status == 401
    ident.clock.advance(timedelta(minutes=11))
    status, _ = await ident.call(
        "POST", "/sessions/password-change", {"change_token": latest, "new_password": NEW_PASSWORD}
    )
    assert status == 401


# --- refresh tokens ---


async def test_a_refresh_rotates_the_token_and_a_reused_one_ends_the_whole_family(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    await add_account(ident.db, tenant, "claire@pharmacie.test")
    first = await ident.session(tenant, "claire@pharmacie.test")
    elsewhere = await ident.session(tenant, "claire@pharmacie.test")

    status, second = await ident.refresh(first["refresh_token"])
    assert status == 200 and second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] and second["refresh_expires_in"] <= 30 * 86400
    sid = jwt.decode(second["access_token"], options={"verify_signature": False})["sid"]
    assert sid == jwt.decode(first["access_token"], options={"verify_signature": False})["sid"]

    status, problem = await ident.refresh(first["refresh_token"])  # stolen and replayed
    assert status == 401 and problem_type(problem) == "session-ended"
    assert (await ident.refresh(second["refresh_token"]))[0] == 401
    assert (await ident.refresh(elsewhere["refresh_token"]))[0] == 200
    assert (await ident.refresh("never-issued"))[0] == 401
    assert (await ident.call("POST", "/sessions/refresh", {"refresh_token": ""}))[0] == 422


async def test_a_refresh_fails_once_the_session_expired(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    await add_account(ident.db, tenant, "claire@pharmacie.test")
    session = await ident.session(tenant, "claire@pharmacie.test")
    ident.clock.advance(timedelta(days=29))
    status, renewed = await ident.refresh(session["refresh_token"])
    # The family's end does not move: 30 days from the login.
    assert status == 200 and renewed["refresh_expires_in"] <= 86400
    ident.clock.advance(timedelta(days=1, seconds=1))
    assert (await ident.refresh(renewed["refresh_token"]))[0] == 401


async def test_a_refresh_fails_for_a_locked_a_deactivated_or_a_deleted_account(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db, lockout_minutes=None)
    locked = await add_account(ident.db, tenant, "locked@pharmacie.test")
    pending = await add_account(ident.db, tenant, "pending@pharmacie.test")
    deleted = await add_account(ident.db, tenant, "deleted@pharmacie.test")
    tokens = {
        account_id: (await ident.session(tenant, email))["refresh_token"]
        for account_id, email in (
            (locked, "locked@pharmacie.test"),
            (pending, "pending@pharmacie.test"),
            (deleted, "deleted@pharmacie.test"),
        )
    }
    await ident.db.execute("INSERT INTO sign_in_failures VALUES ($1, '127.0.0.1', 5, now(), now())", locked)
    await ident.db.execute("UPDATE accounts SET status = 'pending' WHERE account_id = $1", pending)
    await ident.db.execute("DELETE FROM accounts WHERE account_id = $1", deleted)

    status, problem = await ident.refresh(tokens[locked])
    assert status == 423 and problem_type(problem) == "account-locked"
    assert (await ident.refresh(tokens[pending]))[0] == 401
    assert (await ident.refresh(tokens[deleted]))[0] == 401
    # Unlocked, the session goes on; the deactivated account's session is over for good.
    await ident.db.execute("DELETE FROM sign_in_failures WHERE account_id = $1", locked)
    await ident.db.execute("UPDATE accounts SET status = 'active' WHERE account_id = $1", pending)
    assert (await ident.refresh(tokens[locked]))[0] == 200
    assert (await ident.refresh(tokens[pending]))[0] == 401


# --- logout ---


async def test_logout_ends_the_session_and_saying_it_again_changes_nothing(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    await add_account(ident.db, tenant, "claire@pharmacie.test")
    session = await ident.session(tenant, "claire@pharmacie.test")
    other = await ident.session(tenant, "claire@pharmacie.test")
    _, renewed = await ident.refresh(session["refresh_token"])

    # Any token of the family ends it, even an already used one.
    for _ in range(2):
        assert (await ident.call("POST", "/sessions/logout", {"refresh_token": session["refresh_token"]}))[
            0
        ] == 204
    assert (await ident.refresh(renewed["refresh_token"]))[0] == 401
    assert (await ident.call("POST", "/sessions/logout", {"refresh_token": "unknown"}))[0] == 204
    assert (await ident.call("POST", "/sessions/logout", {}))[0] == 422
    assert (await ident.refresh(other["refresh_token"]))[0] == 200


async def test_revoking_my_sessions_ends_every_one_of_them(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    await add_account(ident.db, tenant, "claire@pharmacie.test")
    await add_account(ident.db, tenant, "paul@pharmacie.test")
    mine = [await ident.session(tenant, "claire@pharmacie.test") for _ in range(2)]
    theirs = await ident.session(tenant, "paul@pharmacie.test")

    assert (await ident.call("POST", "/me/sessions/revoke"))[0] == 401
    status, revoked = await ident.call("POST", "/me/sessions/revoke", token=mine[0]["access_token"])
    assert (status, revoked) == (200, {"revoked": 2})
    for session in mine:
        assert (await ident.refresh(session["refresh_token"]))[0] == 401
    assert (await ident.refresh(theirs["refresh_token"]))[0] == 200


# --- changing one's password ---


async def test_changing_my_password_checks_both_and_ends_my_other_sessions(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    account_id = await add_account(ident.db, tenant, "claire@pharmacie.test")
    here = await ident.session(tenant, "claire@pharmacie.test")
    there = await ident.session(tenant, "claire@pharmacie.test")
    token = here["access_token"]

    async def change(current: str, new: str) -> tuple[int, object]:
        return await ident.call(
            "POST", "/me/password", {"current_password": current, "new_password": new}, token=token
        )

    status, problem = await change(WRONG, NEW_PASSWORD)
    assert status == 422 and problem["errors"][0]["field"] == "current_password"  # type: ignore[index]
    assert list((await ident.failures(account_id)).values()) == [(1, None)]
    status, problem = await change(PASSWORD, "alllowercase")
    assert status == 422 and problem["errors"][0]["type"] == "password_policy"  # type: ignore[index]
    assert "an uppercase letter" in problem["errors"][0]["message"]  # type: ignore[index]
    status, problem = await change(PASSWORD, PASSWORD)
    assert status == 422 and problem["errors"][0]["type"] == "password_unchanged"  # type: ignore[index]
    assert (
        await ident.call("POST", "/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    )[0] == 401

    assert (await change(PASSWORD, NEW_PASSWORD))[0] == 204
    assert (await ident.refresh(here["refresh_token"]))[0] == 200
    assert (await ident.refresh(there["refresh_token"]))[0] == 401
    assert (await ident.log_in(tenant, "claire@pharmacie.test"))[0] == 401
    assert (await ident.log_in(tenant, "claire@pharmacie.test", NEW_PASSWORD))[0] == 200


async def test_wrong_current_passwords_count_towards_the_lockout(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db, lockout_threshold=2)
    await add_account(ident.db, tenant, "claire@pharmacie.test")
    token = (await ident.session(tenant, "claire@pharmacie.test"))["access_token"]
    body = {"current_password": WRONG, "new_password": NEW_PASSWORD}
    assert (await ident.call("POST", "/me/password", body, token=token))[0] == 422
    status, problem = await ident.call("POST", "/me/password", body, token=token)
    assert status == 423 and problem_type(problem) == "account-locked"
    status, _ = await ident.call("POST", "/me/password", body | {"current_password": PASSWORD}, token=token)
    assert status == 423


# --- the route table ---


def test_every_credentials_route_has_the_narrowest_grant() -> None:
    grants = {(e.method, e.path): e for e in [*keys.ENDPOINTS, *sessions.ENDPOINTS, *passwords.ENDPOINTS]}
    unlock = grants[("POST", "/accounts/{account_id}/unlock")]
    assert (
        unlock.roles is not None
        and dict(unlock.roles.reach) == {"admin": TENANT}
        and unlock.owner is not None
    )
    for path in ("/me/password", "/me/sessions/revoke"):
        grant = grants[("POST", path)].roles
        assert grant is not None and dict(grant.reach) == {ANY_ROLE: SELF}
    public = {path for (_, path), e in grants.items() if e.roles is None}
    assert public == {
        "/.well-known/jwks.json",
        "/signing-keys/rotate",
        "/sessions",
        "/sessions/password-change",
        "/sessions/refresh",
        "/sessions/logout",
        "/recoveries",
        "/recoveries/confirm",
    }


def test_a_lock_lasts_the_tenant_s_minutes_or_until_an_admin_lifts_it() -> None:
    locked_at = datetime(2025, 1, 1, 12, tzinfo=UTC)
    timed = TenantSettings(lockout_minutes=15)
    assert current_lockout(None, timed, locked_at) is None
    assert current_lockout(locked_at, timed, locked_at + timedelta(minutes=14)) == Lockout(
        locked_at + timedelta(minutes=15)
    )
    assert current_lockout(locked_at, timed, locked_at + timedelta(minutes=15)) is None
    forever = TenantSettings(lockout_minutes=None)
    assert current_lockout(locked_at, forever, locked_at + timedelta(days=365)) == Lockout(None)
