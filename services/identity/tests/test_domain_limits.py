"""Identity's rules at their exact limits, what validation keeps, what stays private, and the
numbers it makes (Luhn check digits, one-time codes). Limits are written as the product states
them, not read from the module."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.identity.domain import (
    Account,
    Address,
    NewAccount,
    OneTimeCode,
    TenantSettings,
    birth_date_problem,
    code_decision,
    code_digest,
    luhn_check_digit,
    luhn_valid,
    new_activation_token,
    new_code,
    normalise_phone,
    password_problems,
    personal_data,
    roles_problem,
)

pytestmark = pytest.mark.fast

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TODAY = date(2026, 3, 1)


def account(**fields: Any) -> Account:
    values: dict[str, Any] = {
        "account_id": uuid.uuid4(),
        "tenant_id": "brand-a",
        "email": "claire@pharmacie.test",
        "display_name": "Claire",
        "locale": "fr",
        "roles": ["partner"],
        "organisation_id": None,
        "status": "active",
        "created_at": NOW,
        "activated_at": NOW,
        "password_hash": "$argon2id$secret",
    }
    return Account(**(values | fields))


# --- tenant settings: defaults and bounds ---


def test_a_new_tenants_settings_are_the_documented_defaults() -> None:
    settings = TenantSettings()
    assert settings.model_dump() == {
        "password_min_length": 8,
        "password_classes": ("lower", "upper", "digit", "special"),
        "password_change_at_first_login": False,
        "login_identifiers": ("email", "registration_number", "card_number"),
        "lockout_threshold": 5,
        "lockout_minutes": 15,
        "delete_without_order_days": None,
        "delete_after_last_order_days": None,
        "time_zone": "UTC",
    }


@pytest.mark.parametrize(
    ("field", "accepted", "refused"),
    [
        ("password_min_length", [8, 128], [7, 129]),
        ("lockout_threshold", [1, 100], [0, 101]),
        ("lockout_minutes", [1, None], [0]),
        ("delete_without_order_days", [1, None], [0]),
        ("delete_after_last_order_days", [1, None], [0]),
        ("login_identifiers", [("card_number",)], [()]),
        ("time_zone", ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires"], ["utc", "Paris", "+01:00"]),
    ],
)
def test_tenant_settings_hold_only_values_within_their_bounds(
    field: str, accepted: list[Any], refused: list[Any]
) -> None:
    for value in accepted:
        assert getattr(TenantSettings.model_validate({field: value}), field) == value
    for value in refused:
        with pytest.raises(ValidationError):
            TenantSettings.model_validate({field: value})


def test_a_password_of_exactly_128_characters_is_accepted_and_129_refused() -> None:
    settings = TenantSettings()
    longest = "Aa1!" + "x" * 124
    assert len(longest) == 128 and password_problems(settings, longest) == []
    assert password_problems(settings, longest + "x") == ["at most 128 characters"]


def test_a_password_of_exactly_the_tenants_minimum_is_accepted() -> None:
    settings = TenantSettings(password_min_length=10)
    assert password_problems(settings, "Aa1!567890") == []
    assert password_problems(settings, "Aa1!56789") == ["at least 10 characters"]


# --- privacy ---


def test_a_passport_number_never_shows_in_a_repr() -> None:
    new = NewAccount(
        tenant_id="brand-a",
        email="anna@example.test",
        display_name="Anna",
        locale="ru",
        roles=["customer"],
        passport="4510 123456",
    )
    assert new.passport == "4510 123456" and "4510 123456" not in repr(new)
    stored = account(passport="4510 123456")
    assert stored.passport == "4510 123456" and "4510 123456" not in repr(stored)


def test_a_one_time_codes_digest_never_shows_in_a_repr() -> None:
    digest = code_digest(uuid.UUID(int=7), "recovery", "123456")
    stored = OneTimeCode(
        account_id=uuid.UUID(int=7),
        purpose="recovery",
        code_hash=digest,
        channel="email",
        attempts=0,
        expires_at=NOW,
        used_at=None,
    )
    assert stored.code_hash == digest
    assert repr(digest) not in repr(stored) and "code_hash" not in repr(stored)


# --- the address: what is kept, and its limits ---


def address(**fields: Any) -> Address:
    return Address.model_validate(
        {"line1": "12 rue des Lilas", "postal_code": "75011", "city": "Paris", "country": "FR"} | fields
    )


def test_an_address_keeps_every_line_it_was_given() -> None:
    kept = address(line2=" Bâtiment B, 3e étage ", postal_code="SW1A 1AA", city=" London ", country=" gb ")
    assert kept.model_dump() == {
        "line1": "12 rue des Lilas",
        "line2": "Bâtiment B, 3e étage",
        "postal_code": "SW1A 1AA",
        "city": "London",
        "country": "GB",
    }


@pytest.mark.parametrize(
    ("field", "longest", "too_long"),
    [("line1", "l" * 200, "l" * 201), ("line2", "l" * 200, "l" * 201), ("city", "c" * 100, "c" * 101)],
)
def test_address_lines_are_at_most_200_characters_and_the_city_100(
    field: str, longest: str, too_long: str
) -> None:
    assert getattr(address(**{field: longest}), field) == longest
    with pytest.raises(ValidationError):
        address(**{field: too_long})


def test_a_postal_code_is_3_to_12_characters() -> None:
    assert address(postal_code="123").postal_code == "123"
    assert address(postal_code="A" * 12).postal_code == "A" * 12
    for bad in ("12", "A" * 13):
        with pytest.raises(ValidationError):
            address(postal_code=bad)


# --- registration fields ---


def test_an_account_holder_is_13_to_120_years_old() -> None:
    assert birth_date_problem(date(2013, 3, 1), TODAY) is None  # 13 today
    assert birth_date_problem(date(2013, 3, 2), TODAY) == "an account holder must be at least 13 years old"
    assert birth_date_problem(date(1906, 3, 1), TODAY) is None  # 120 today
    assert birth_date_problem(date(1905, 3, 1), TODAY) == "an age over 120 years is not plausible"
    assert birth_date_problem(date(2026, 3, 2), TODAY) == "a birth date cannot be in the future"


def test_born_today_is_too_young_rather_than_in_the_future() -> None:
    assert birth_date_problem(TODAY, TODAY) == "an account holder must be at least 13 years old"


def test_a_phone_number_that_cannot_be_one_is_refused_saying_the_expected_form() -> None:
    with pytest.raises(ValueError, match=r"^a mobile number in international form, e\.g\. \+33612345678$"):
        normalise_phone("06 12 34 56 78")


def test_an_e164_number_has_8_to_16_characters() -> None:
    assert normalise_phone("+3361234") == "+3361234"
    assert normalise_phone("+336123456789012") == "+336123456789012"
    for bad in ("+336123", "+3361234567890123"):
        with pytest.raises(ValueError):
            normalise_phone(bad)


def test_a_validator_without_an_organisation_is_told_to_get_one() -> None:
    assert roles_problem(["validator"], None) == (
        "a validator validates the orders of her organisation: give the account an organisation"
    )


def test_personal_data_of_an_account_with_only_the_required_fields() -> None:
    identifiers, details = personal_data(account())
    assert (identifiers, details) == (["claire@pharmacie.test"], ["Claire"])


# --- card numbers ---


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("7992739871", "3"),  # the textbook example
        ("411111111111111", "1"),  # Visa's test card
        ("555555555555444", "4"),  # Mastercard's test card
        ("37828224631000", "5"),  # American Express's test card
        ("5", "9"),  # 5 doubled is 10, counted as 1
        ("", "0"),
    ],
)
def test_the_luhn_check_digit_of_known_numbers(body: str, check: str) -> None:
    assert luhn_check_digit(body) == check
    assert body == "" or luhn_valid(body + check)


def test_a_card_number_is_at_least_two_digits_with_its_check_digit_last() -> None:
    assert luhn_valid("59") and luhn_valid("00")
    assert not luhn_valid("0") and not luhn_valid("")
    assert not luhn_valid("4111 1111 1111 1111")


# --- activation tokens and one-time codes ---


def test_an_activation_token_carries_32_random_bytes() -> None:
    assert all(len(new_activation_token()) == 43 for _ in range(20))


def test_one_time_codes_range_over_every_number_of_their_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []

    def highest(bound: int) -> int:
        asked.append(bound)
        return bound - 1

    monkeypatch.setattr(secrets, "randbelow", highest)
    assert (new_code(), new_code(4)) == ("999999", "9999")
    assert asked == [1_000_000, 10_000]
    monkeypatch.setattr(secrets, "randbelow", lambda bound: 0)
    assert new_code() == "000000"


def test_a_code_may_be_tried_until_its_attempts_reach_the_maximum() -> None:
    account_id = uuid.UUID(int=7)
    stored = OneTimeCode(
        account_id=account_id,
        purpose="activation",
        code_hash=code_digest(account_id, "activation", "012345"),
        channel="sms",
        attempts=4,
        expires_at=NOW + timedelta(seconds=1),
        used_at=None,
    )
    assert code_decision(stored, "012345", NOW, 5) == "accept"
    assert code_decision(stored, "012345", NOW, 4) == "exhausted"
