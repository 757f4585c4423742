"""Every way a session ends is announced, so that every service refuses its access tokens at once."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import jwt
import pytest

from libs.common.revocation import SESSION_REVOKED, SESSION_TOPIC, SessionsRevoked
from services.identity.app import EVENTS
from services.identity.events import SessionsRevoked as PublishedSessionsRevoked
from services.identity.tests.credentials_support import (
    NEW_PASSWORD,
    PASSWORD,
    Credentials,
    add_account,
    add_tenant,
    identity_in_process,
)

pytestmark = pytest.mark.fast

EMAIL = "claire@pharmacie.test"


@pytest.fixture
async def ident(db: asyncpg.Connection) -> AsyncIterator[Credentials]:
    async with identity_in_process(db) as running:
        yield running


def sid(session: dict[str, Any]) -> str:
    return str(jwt.decode(session["access_token"], options={"verify_signature": False})["sid"])


async def revocations(ident: Credentials) -> list[dict[str, Any]]:
    """The session revocations identity put in its outbox, oldest first, checked as verifiers read them."""
    rows = await ident.db.fetch("SELECT key, payload FROM outbox WHERE topic = $1 ORDER BY id", SESSION_TOPIC)
    events = [json.loads(row["payload"]) for row in rows]
    for row, event in zip(rows, events, strict=True):
        assert (
            event["type"] == SESSION_REVOKED and row["key"] == event["subject"] == event["data"]["account_id"]
        )
        read = SessionsRevoked.model_validate(event["data"])
        lifetime = read.tokens_expire_by - datetime.fromisoformat(event["data"]["revoked_at"])
        assert lifetime == timedelta(seconds=900)  # the access tokens' lifetime
    return events


def ended(events: list[dict[str, Any]]) -> list[tuple[str, set[str]]]:
    return [(e["data"]["reason"], set(e["data"]["session_ids"])) for e in events]


async def test_the_event_is_internal_and_the_verifiers_reading_matches_it() -> None:
    published = EVENTS.json_schemas()[SESSION_REVOKED]
    assert published["internal"] is True and published["topic"] == SESSION_TOPIC
    assert set(SessionsRevoked.model_fields) <= set(PublishedSessionsRevoked.model_fields)


async def test_a_logout_ends_its_session_once(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    account_id = await add_account(ident.db, tenant, EMAIL)
    session = await ident.session(tenant, EMAIL)
    await ident.session(tenant, EMAIL)  # another device: not ended

    for _ in range(2):
        assert (await ident.call("POST", "/sessions/logout", {"refresh_token": session["refresh_token"]}))[
            0
        ] == 204
    events = await revocations(ident)
    assert ended(events) == [("logout", {sid(session)})]  # the second logout ended nothing
    assert events[0]["tenantid"] == tenant and events[0]["subject"] == str(account_id)
    assert EMAIL not in json.dumps(events)


async def test_a_reused_refresh_token_ends_its_session(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    await add_account(ident.db, tenant, EMAIL)
    session = await ident.session(tenant, EMAIL)
    assert (await ident.refresh(session["refresh_token"]))[0] == 200

    assert (await ident.refresh(session["refresh_token"]))[0] == 401  # stolen and replayed
    assert ended(await revocations(ident)) == [("refresh_token_reused", {sid(session)})]


async def test_signing_out_everywhere_ends_every_session_whose_tokens_live(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    await add_account(ident.db, tenant, EMAIL)
    await add_account(ident.db, tenant, "paul@pharmacie.test")
    mine = [await ident.session(tenant, EMAIL) for _ in range(2)]
    await ident.session(tenant, "paul@pharmacie.test")
    # A session whose refresh token has expired while its last access token still lives.
    stale = await ident.session(tenant, EMAIL)
    await ident.db.execute(
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 minute' WHERE family_id = $1",
        uuid.UUID(sid(stale)),
    )

    status, _ = await ident.call("POST", "/me/sessions/revoke", token=mine[0]["access_token"])
    assert status == 200
    assert ended(await revocations(ident)) == [
        ("signed_out_everywhere", {sid(mine[0]), sid(mine[1]), sid(stale)})
    ]


async def test_a_new_password_ends_the_other_sessions(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    await add_account(ident.db, tenant, EMAIL)
    here, there = await ident.session(tenant, EMAIL), await ident.session(tenant, EMAIL)
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert (await ident.call("POST", "/me/password", body, token=here["access_token"]))[0] == 204
    assert ended(await revocations(ident)) == [("password_changed", {sid(there)})]


async def test_a_forced_password_change_ends_the_sessions_before_it(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    account_id = await add_account(ident.db, tenant, EMAIL)
    before = await ident.session(tenant, EMAIL)
    await ident.db.execute(
        "UPDATE accounts SET password_change_required = true WHERE account_id = $1", account_id
    )
    _, required = await ident.log_in(tenant, EMAIL)
    change = {"change_token": required["change_token"], "new_password": NEW_PASSWORD}
    status, after = await ident.call("POST", "/sessions/password-change", change)
    assert status == 200
    assert ended(await revocations(ident)) == [("password_changed", {sid(before)})]
    assert sid(after) != sid(before)


async def test_deleting_the_account_ends_its_sessions(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    await add_account(ident.db, tenant, EMAIL)
    sessions = [await ident.session(tenant, EMAIL) for _ in range(2)]
    status, _ = await ident.call("DELETE", "/me", {"password": PASSWORD}, token=sessions[0]["access_token"])
    assert status == 204
    events = await revocations(ident)
    assert ended(events) == [("account_deleted", {sid(s) for s in sessions})]
    assert EMAIL not in json.dumps(events)


async def test_a_recovery_code_ends_every_session(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    account_id = await add_account(ident.db, tenant, EMAIL)
    sessions = [await ident.session(tenant, EMAIL) for _ in range(2)]
    body = {"tenant_id": tenant, "login": EMAIL, "channel": "email"}
    assert (await ident.call("POST", "/recoveries", body))[0] == 202
    code = (await ident.notify_requests(account_id))[-1]["data"]["code"]
    confirm = {"tenant_id": tenant, "login": EMAIL, "code": code, "new_password": NEW_PASSWORD}
    assert (await ident.call("POST", "/recoveries/confirm", confirm))[0] == 204
    assert ended(await revocations(ident)) == [("password_changed", {sid(s) for s in sessions})]
