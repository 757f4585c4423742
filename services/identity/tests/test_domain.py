"""Identity's pure rules and password hashing, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from libs.common.auth import AUDIENCE, ISSUER
from services.identity import passwords
from services.identity.domain import (
    Account,
    ActivationToken,
    access_claims,
    activation_decision,
    activation_url,
    new_activation_token,
    token_digest,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def token(expires_in: timedelta, used: bool = False) -> ActivationToken:
    return ActivationToken(
        account_id=uuid.uuid4(), expires_at=NOW + expires_in, used_at=NOW if used else None
    )


def account(organisation_id: uuid.UUID | None = None) -> Account:
    return Account(
        account_id=uuid.uuid4(),
        tenant_id="brand-a",
        email="claire@pharmacie.test",
        display_name="Claire",
        locale="fr",
        roles=["partner"],
        organisation_id=organisation_id,
        status="active",
        created_at=NOW,
        activated_at=NOW,
        password_hash="$argon2id$secret",
    )


def test_a_fresh_token_activates_a_pending_account() -> None:
    assert activation_decision(token(timedelta(hours=1)), "pending", NOW) == "activate"


def test_a_token_expires_at_its_expiry_time() -> None:
    assert activation_decision(token(timedelta(0)), "pending", NOW) == "expired"
    assert activation_decision(token(timedelta(seconds=-1)), "pending", NOW) == "expired"


def test_an_active_account_is_already_active_whatever_its_tokens_age() -> None:
    assert activation_decision(token(timedelta(hours=-1)), "active", NOW) == "already-active"
    assert activation_decision(token(timedelta(hours=1), used=True), "active", NOW) == "already-active"


def test_a_used_token_never_activates_again() -> None:
    assert activation_decision(token(timedelta(hours=1), used=True), "pending", NOW) == "used"


def test_activation_tokens_are_long_url_safe_and_stored_as_a_digest() -> None:
    first, second = new_activation_token(), new_activation_token()
    assert first != second and len(first) >= 43
    assert all(c.isalnum() or c in "-_" for c in first)
    assert token_digest(first) != token_digest(second) and len(token_digest(first)) == 32
    assert activation_url("https://comptoir.example", first) == (
        f"https://comptoir.example/api/identity/activations/{first}"
    )


def test_access_claims_follow_the_contract() -> None:
    member = account()
    claims = access_claims(member, NOW, timedelta(minutes=15))
    assert claims == {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(member.account_id),
        "tid": "brand-a",
        "roles": ["partner"],
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 900,
    }
    organisation_id = uuid.uuid4()
    assert access_claims(account(organisation_id), NOW, timedelta(minutes=15))["org"] == str(organisation_id)


def test_an_account_never_shows_its_password_hash() -> None:
    member = account()
    assert "password_hash" not in member.model_dump() and "argon2" not in repr(member)


async def test_passwords_verify_only_against_their_own_hash() -> None:
    hashed = await passwords.hash_password("Correct-Horse-9")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await passwords.verify_password(hashed, "Correct-Horse-9")
    assert not await passwords.verify_password(hashed, "Wrong-Horse-9")
    assert not await passwords.verify_password(None, "Correct-Horse-9")
    assert not await passwords.verify_password("not-a-hash", "Correct-Horse-9")
