"""Recovering an account with a numeric code sent by SMS and email."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.identity.domain import TenantSettings
from services.identity.sessions import (
    RECOVERY_ANSWER_SECONDS,
    RECOVERY_MAX_PER_WINDOW,
    phone_form,
    recovery_channels,
    recovery_kinds,
    recovery_window,
)
from services.identity.store import RecoveryCode
from services.identity.tests.credentials_support import (
    NEW_PASSWORD,
    Credentials,
    add_account,
    add_tenant,
    identity_in_process,
)

pytestmark = pytest.mark.fast

PHONE = "+33612345678"


@pytest.fixture
async def ident(db: asyncpg.Connection) -> AsyncIterator[Credentials]:
    async with identity_in_process(db) as running:
        yield running


async def ask(ident: Credentials, tenant: str, login: str, channel: str = "both") -> tuple[int, Any]:
    return await ident.call("POST", "/recoveries", {"tenant_id": tenant, "login": login, "channel": channel})


async def confirm(
    ident: Credentials, tenant: str, login: str, code: str, password: str = NEW_PASSWORD
) -> tuple[int, Any]:
    body = {"tenant_id": tenant, "login": login, "code": code, "new_password": password}
    return await ident.call("POST", "/recoveries/confirm", body)


async def codes_sent(ident: Credentials, account_id: uuid.UUID) -> list[dict[str, Any]]:
    return [
        e["data"]
        for e in await ident.notify_requests(account_id)
        if e["type"] == "identity.recovery.requested"
    ]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_a_code_sent_by_sms_and_email_sets_a_new_password_and_ends_every_session(
    ident: Credentials,
) -> None:
    tenant = await add_tenant(ident.db, lockout_minutes=None)
    account_id = await add_account(ident.db, tenant, "claire@pharmacie.test", phone=PHONE)
    sessions = [await ident.session(tenant, "claire@pharmacie.test") for _ in range(2)]
    await ident.db.execute(
        "UPDATE accounts SET locked_at = now(), password_change_required = true WHERE account_id = $1",
        account_id,
    )
    await ident.db.execute(
        "INSERT INTO sign_in_failures VALUES ($1, '127.0.0.1', 5, now(), now())", account_id
    )

    status, accepted = await ask(ident, tenant, "+33 6 12 34 56 78")
    assert status == 202 and "code was sent" in accepted["detail"]
    sent = await codes_sent(ident, account_id)
    assert [(m["channel"], m["email"], m["phone"]) for m in sent] == [
        ("email", "claire@pharmacie.test", None),
        ("sms", None, PHONE),
    ]
    code = sent[0]["code"]
    assert sent[1]["code"] == code and len(code) == 6 and code.isdigit()
    expires_at = datetime.fromisoformat(sent[0]["expires_at"])
    assert timedelta(minutes=14) < expires_at - datetime.now(UTC) <= timedelta(minutes=15)
    stored = await ident.db.fetchrow("SELECT * FROM one_time_codes WHERE account_id = $1", account_id)
    assert stored["purpose"] == "recovery" and code.encode() not in stored["code_hash"]

    assert (await confirm(ident, tenant, "+33612345678", code))[0] == 204
    row = await ident.account(account_id)
    assert row["locked_at"] is None and not row["password_change_required"]
    assert await ident.failures(account_id) == {}
    for session in sessions:
        assert (await ident.refresh(session["refresh_token"]))[0] == 401
    assert (await ident.log_in(tenant, "claire@pharmacie.test"))[0] == 401
    assert (await ident.log_in(tenant, "claire@pharmacie.test", NEW_PASSWORD))[0] == 200
    # Single use.
    status, problem = await confirm(ident, tenant, "claire@pharmacie.test", code, "Third-Pass-3")
    assert status == 400 and problem["type"] == "urn:comptoir:problem:recovery-code-invalid"


async def test_every_request_gets_the_same_answer_in_the_same_time(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    known = await add_account(ident.db, tenant, "claire@pharmacie.test", registration_number="00000007")
    pending = await add_account(ident.db, tenant, "paul@pharmacie.test", status="pending")

    answers, durations = [], []
    for tenant_id, login in (
        (tenant, "00000007"),
        (tenant, "nobody@pharmacie.test"),
        (tenant, "paul@pharmacie.test"),
        ("no-such-brand", "claire@pharmacie.test"),
    ):
        started = time.perf_counter()
        answers.append(await ask(ident, tenant_id, login))
        durations.append(time.perf_counter() - started)
    assert answers[0][0] == 202 and all(answer == answers[0] for answer in answers)
    assert min(durations) >= RECOVERY_ANSWER_SECONDS and max(durations) - min(durations) < 0.15
    assert len(await codes_sent(ident, known)) == 1
    assert await codes_sent(ident, pending) == []
    assert await ident.db.fetchval("SELECT count(*) FROM outbox") == 1


async def test_wrong_codes_count_and_the_code_dies_at_the_limit(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    account_id = await add_account(ident.db, tenant, "claire@pharmacie.test")
    await ask(ident, tenant, "claire@pharmacie.test")
    code = (await codes_sent(ident, account_id))[0]["code"]

    answers = [await confirm(ident, tenant, "claire@pharmacie.test", wrong(code)) for _ in range(5)]
    assert {status for status, _ in answers} == {400}
    # The right code now changes nothing: the code is dead, with the same answer.
    assert await confirm(ident, tenant, "claire@pharmacie.test", code) == answers[0]
    assert (
        await ident.db.fetchval("SELECT attempts FROM one_time_codes WHERE account_id = $1", account_id) == 5
    )
    assert (await ident.log_in(tenant, "claire@pharmacie.test"))[0] == 200


async def test_an_expired_code_and_an_unknown_login_get_the_answer_of_a_wrong_code(
    ident: Credentials,
) -> None:
    tenant = await add_tenant(ident.db)
    account_id = await add_account(ident.db, tenant, "claire@pharmacie.test")
    await ask(ident, tenant, "claire@pharmacie.test")
    code = (await codes_sent(ident, account_id))[0]["code"]

    wrong_code = await confirm(ident, tenant, "claire@pharmacie.test", wrong(code))
    unknown = await confirm(ident, tenant, "nobody@pharmacie.test", code)
    never_asked = await confirm(ident, "no-such-brand", "claire@pharmacie.test", code)
    ident.clock.advance(timedelta(minutes=15, seconds=1))
    expired = await confirm(ident, tenant, "claire@pharmacie.test", code)
    assert wrong_code[0] == 400 and wrong_code == unknown == never_asked == expired


async def test_the_new_password_follows_the_policy_without_spending_the_code(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db, password_min_length=12)
    account_id = await add_account(ident.db, tenant, "claire@pharmacie.test")
    await ask(ident, tenant, "claire@pharmacie.test")
    code = (await codes_sent(ident, account_id))[0]["code"]

    status, problem = await confirm(ident, tenant, "claire@pharmacie.test", code, "Short-Pass1")
    assert status == 422 and problem["errors"][0]["field"] == "new_password"
    assert "at least 12 characters" in problem["errors"][0]["message"]
    status, problem = await confirm(ident, tenant, "claire@pharmacie.test", "12345")
    assert status == 422 and problem["errors"][0]["field"] == "code"
    assert (
        await ident.db.fetchval("SELECT attempts FROM one_time_codes WHERE account_id = $1", account_id) == 0
    )
    assert (await confirm(ident, tenant, "claire@pharmacie.test", code, "Long-Enough-Pass-1"))[0] == 204


async def test_a_new_code_replaces_the_previous_one_and_codes_are_rate_limited(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    account_id = await add_account(ident.db, tenant, "claire@pharmacie.test")

    for _ in range(2):
        assert (await ask(ident, tenant, "claire@pharmacie.test", "email"))[0] == 202
    first = await codes_sent(ident, account_id)
    assert len(first) == 1  # the second came within a minute: nothing sent, the first code still works

    for _ in range(RECOVERY_MAX_PER_WINDOW):
        ident.clock.advance(timedelta(minutes=1))
        await ask(ident, tenant, "claire@pharmacie.test", "email")
    sent = await codes_sent(ident, account_id)
    assert len(sent) == RECOVERY_MAX_PER_WINDOW  # five an hour at most

    ident.clock.advance(timedelta(hours=1))
    await ask(ident, tenant, "claire@pharmacie.test", "email")
    sent = await codes_sent(ident, account_id)
    assert len(sent) == RECOVERY_MAX_PER_WINDOW + 1
    latest, previous = sent[-1]["code"], sent[-2]["code"]
    if previous != latest:
        assert (await confirm(ident, tenant, "claire@pharmacie.test", previous))[0] == 400
    assert (await confirm(ident, tenant, "claire@pharmacie.test", latest))[0] == 204


async def test_a_channel_the_account_cannot_receive_is_replaced_and_a_shared_phone_names_nobody(
    ident: Credentials,
) -> None:
    tenant = await add_tenant(ident.db)
    no_phone = await add_account(ident.db, tenant, "claire@pharmacie.test", card_number="7000000000000001")
    await ask(ident, tenant, "7000000000000001", "sms")
    assert [m["channel"] for m in await codes_sent(ident, no_phone)] == ["email"]

    with_phone = await add_account(ident.db, tenant, "paul@pharmacie.test", phone="+33700000001")
    await ask(ident, tenant, "paul@pharmacie.test", "sms")
    assert [m["channel"] for m in await codes_sent(ident, with_phone)] == ["sms"]

    shared = [
        await add_account(ident.db, tenant, f"{n}@pharmacie.test", phone="+33700000002") for n in ("a", "b")
    ]
    await ask(ident, tenant, "+33700000002")
    assert [await codes_sent(ident, account_id) for account_id in shared] == [[], []]


# --- the rules ---


def _previous(created: datetime, window: datetime, sent: int) -> RecoveryCode:
    return RecoveryCode(
        account_id=uuid.uuid4(),
        purpose="recovery",
        code_hash=b"x",
        channel="email",
        attempts=0,
        expires_at=created + timedelta(minutes=15),
        used_at=None,
        created_at=created,
        window_started_at=window,
        sent_in_window=sent,
    )


def test_recovery_codes_are_limited_to_one_a_minute_and_five_an_hour() -> None:
    now = datetime(2025, 1, 1, 12, tzinfo=UTC)
    assert recovery_window(None, now) == (now, 1)
    assert (
        recovery_window(_previous(now - timedelta(seconds=30), now - timedelta(seconds=30), 1), now) is None
    )
    start = now - timedelta(minutes=30)
    assert recovery_window(_previous(now - timedelta(minutes=2), start, 2), now) == (start, 3)
    assert recovery_window(_previous(now - timedelta(minutes=2), start, 5), now) is None
    old = now - timedelta(hours=1)
    assert recovery_window(_previous(now - timedelta(minutes=2), old, 5), now) == (now, 1)


def test_codes_go_where_asked_if_they_can_else_wherever_they_can() -> None:
    assert recovery_channels("both", "a@b.test", PHONE) == ["email", "sms"]
    assert recovery_channels("sms", "a@b.test", PHONE) == ["sms"]
    assert recovery_channels("sms", "a@b.test", None) == ["email"]
    assert recovery_channels("email", None, PHONE) == ["sms"]
    assert recovery_channels("both", None, None) == []


def test_recovery_accepts_the_tenant_s_logins_plus_email_and_phone() -> None:
    assert recovery_kinds(TenantSettings(login_identifiers=("card_number",))) == [
        "email",
        "card_number",
        "phone",
    ]
    assert phone_form("+33 6 12-34.56.78") == PHONE and phone_form("0033612345678") == PHONE
    assert phone_form("00000042") == "00000042"
