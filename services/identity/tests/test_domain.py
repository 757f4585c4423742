"""Identity's pure rules and password hashing, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from libs.common.auth import AUDIENCE, ISSUER
from services.identity import passwords
from services.identity.domain import (
    Account,
    ActivationToken,
    Address,
    OneTimeCode,
    TenantSettings,
    access_claims,
    activation_decision,
    activation_url,
    birth_date_problem,
    code_decision,
    code_digest,
    display_name_of,
    luhn_valid,
    new_activation_token,
    new_card_number,
    new_code,
    normalise_phone,
    password_problems,
    personal_data,
    registration_number,
    roles_problem,
    token_digest,
)

pytestmark = pytest.mark.fast

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
    assert activation_url("https://comptoir.example", "brand-a", first) == (
        f"https://comptoir.example/brand-a/activations/{first}"
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


# --- password policy ---


def test_the_default_policy_asks_8_characters_with_lower_upper_digit_and_special() -> None:
    settings = TenantSettings()
    assert password_problems(settings, "Correct-Horse-9") == []
    assert password_problems(settings, "short") == [
        "at least 8 characters",
        "an uppercase letter",
        "a digit",
        "a special character",
    ]
    assert password_problems(settings, "ALLUPPERCASE1!") == ["a lowercase letter"]
    assert password_problems(settings, "Has space 1") == ["a special character"]  # a space is not one


def test_a_tenant_can_ask_longer_passwords_with_fewer_classes() -> None:
    settings = TenantSettings(password_min_length=12, password_classes=("digit",))
    assert password_problems(settings, "onlyletters-long") == ["a digit"]
    assert password_problems(settings, "1234567890ab") == []
    assert password_problems(settings, "x" * 129 + "1") == ["at most 128 characters"]


# --- registration fields ---


def test_phones_are_normalised_to_e164_and_nonsense_is_refused() -> None:
    assert normalise_phone("+33 6 12 34 56 78") == "+33612345678"
    assert normalise_phone("0033 (6) 12.34.56.78") == "+33612345678"
    assert normalise_phone("+7-912-345-67-89") == "+79123456789"
    for bad in ("06 12 34 56 78", "+0612345678", "+33", "+33 6 12 34 56 78 90 12 34", "+33612345abc", ""):
        with pytest.raises(ValueError):
            normalise_phone(bad)


def test_an_address_needs_a_street_postal_code_city_and_a_real_country() -> None:
    address = Address(line1=" 12 rue des Lilas ", postal_code="75011", city="Paris", country="fr", line2="")
    assert (address.line1, address.country, address.line2) == ("12 rue des Lilas", "FR", None)
    for bad in (
        {"country": "XX"},
        {"country": "FRA"},
        {"postal_code": "7"},
        {"postal_code": "75011!"},
        {"city": ""},
        {"line1": ""},
    ):
        fields = {"line1": "1 rue", "postal_code": "75011", "city": "Paris", "country": "FR"} | bad
        with pytest.raises(ValidationError):
            Address.model_validate(fields)


def test_birth_dates_must_give_a_plausible_age() -> None:
    today = date(2026, 3, 1)
    assert birth_date_problem(date(1990, 4, 12), today) is None
    assert birth_date_problem(date(2013, 3, 1), today) is None  # 13 today
    assert "at least 13" in str(birth_date_problem(date(2013, 3, 2), today))
    assert "future" in str(birth_date_problem(date(2026, 3, 2), today))
    assert "not plausible" in str(birth_date_problem(date(1900, 1, 1), today))


def test_a_display_name_is_given_or_made_of_first_and_last_name() -> None:
    assert display_name_of("Anna", "Anna", "Ivanova") == "Anna"
    assert display_name_of(None, "Anna", "Ivanova") == "Anna Ivanova"
    assert display_name_of(None, "Anna", None) is None


def test_roles_are_given_once_and_a_validator_needs_an_organisation() -> None:
    assert roles_problem(["partner"], None) is None
    assert roles_problem([], None) == "at least one role"
    assert roles_problem(["shop", "shop"], None) == "each role once"
    assert "organisation" in str(roles_problem(["validator"], None))
    assert roles_problem(["validator", "partner"], uuid.uuid4()) is None


def test_personal_data_is_everything_that_identifies_the_person() -> None:
    person = account().model_copy(
        update={
            "first_name": "Anna",
            "last_name": "Ivanova",
            "phone": "+33612345678",
            "passport": "4510 123456",
            "birth_date": date(1990, 4, 12),
            "registration_number": "00000042",
            "card_number": "4970101234567890",
            "address": {"line1": "12 rue des Lilas", "line2": None, "postal_code": "75011", "city": "Paris"},
        }
    )
    identifiers, details = personal_data(person)
    assert set(identifiers) == {
        "claire@pharmacie.test",
        "+33612345678",
        "4510 123456",
        "00000042",
        "4970101234567890",
    }
    assert set(details) == {"Claire", "Anna", "Ivanova", "1990-04-12", "12 rue des Lilas", "75011", "Paris"}


# --- numbers and codes ---


def test_registration_numbers_are_eight_digits() -> None:
    assert registration_number(1) == "00000001"
    assert registration_number(12345678) == "12345678"


def test_generated_card_numbers_are_sixteen_digits_with_a_luhn_check() -> None:
    numbers = {new_card_number() for _ in range(200)}
    assert len(numbers) == 200
    assert all(len(n) == 16 and n[0] != "0" and luhn_valid(n) for n in numbers)
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")


def code(attempts: int = 0, expires_in: timedelta = timedelta(minutes=5), used: bool = False) -> OneTimeCode:
    account_id = uuid.UUID(int=7)
    return OneTimeCode(
        account_id=account_id,
        purpose="activation",
        code_hash=code_digest(account_id, "activation", "012345"),
        channel="sms",
        attempts=attempts,
        expires_at=NOW + expires_in,
        used_at=NOW if used else None,
    )


def test_a_code_is_accepted_only_while_fresh_unused_and_not_guessed_too_often() -> None:
    assert code_decision(code(), "012345", NOW, 5) == "accept"
    assert code_decision(code(), "012346", NOW, 5) == "wrong"
    assert code_decision(code(attempts=5), "012345", NOW, 5) == "exhausted"
    assert code_decision(code(expires_in=timedelta(0)), "012345", NOW, 5) == "expired"
    assert code_decision(code(used=True), "012345", NOW, 5) == "used"


def test_codes_are_six_digits_and_their_digest_depends_on_account_and_purpose() -> None:
    assert all(len(c) == 6 and c.isdigit() for c in (new_code() for _ in range(50)))
    first, second = uuid.uuid4(), uuid.uuid4()
    assert code_digest(first, "activation", "123456") != code_digest(second, "activation", "123456")
    assert code_digest(first, "activation", "123456") != code_digest(first, "recovery", "123456")
