"""Identity's pure rules: accounts and their registration fields, roles, activation tokens and codes,
card and registration numbers, inactivity, and the claims of an access token."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.common.auth import AUDIENCE, ISSUER
from libs.common.clock import TimeZoneName
from services.identity.events import Locale, OrganisationKind

ADMIN, SHOP, PARTNER, VALIDATOR, SELLER, CUSTOMER = (
    "admin",
    "shop",
    "partner",
    "validator",
    "seller",
    "customer",
)
Role = Literal["admin", "shop", "partner", "validator", "seller", "customer"]
ROLES: tuple[str, ...] = (ADMIN, SHOP, PARTNER, VALIDATOR, SELLER, CUSTOMER)
TENANT_ID_PATTERN = r"^[a-z0-9-]{2,40}$"
# Deliverability is proven by the activation email; this only refuses what cannot be an address.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
MIN_PASSWORD, MAX_PASSWORD = 8, 128
ACTIVATION_TOKEN_BYTES = 32

AccountStatus = Literal["pending", "active"]
ActivationDecision = Literal["activate", "already-active", "used", "expired"]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True)


class NewAccount(_Value):
    """An account about to be created (its password, if any, hashed elsewhere); its id is chosen
    here only when it was promised before (a merchant's sign-up)."""

    account_id: uuid.UUID | None = None

    tenant_id: str
    email: str
    display_name: str
    locale: Locale
    roles: list[str]
    organisation_id: uuid.UUID | None = None
    first_name: str | None = None
    last_name: str | None = None
    birth_date: date | None = None
    phone: str | None = None
    address: dict[str, Any] | None = None
    passport: str | None = Field(None, repr=False)
    card_number: str | None = None
    sponsor_id: uuid.UUID | None = None
    professional: bool = False
    home_shop_id: uuid.UUID | None = None
    # Someone else chose the password and handed it over in person: the tenant may ask for a new one at
    # first login.
    password_change_required: bool = False


class Account(_Value):
    """A stored account. The password hash is kept out of dumps and reprs: it must never travel."""

    account_id: uuid.UUID
    tenant_id: str
    email: str
    display_name: str
    locale: Locale
    roles: list[str]
    organisation_id: uuid.UUID | None
    status: AccountStatus
    created_at: datetime
    activated_at: datetime | None
    first_name: str | None = None
    last_name: str | None = None
    birth_date: date | None = None
    phone: str | None = None
    address: dict[str, Any] | None = None
    passport: str | None = Field(None, repr=False)
    registration_number: str | None = None
    card_number: str | None = None
    sponsor_id: uuid.UUID | None = None
    professional: bool = False  # a professional customer: some rules and rewards are for them alone
    home_shop_id: uuid.UUID | None = None  # the shop that registered her, for a customer
    password_change_required: bool = False
    locked_at: datetime | None = None
    last_login_at: datetime | None = None
    last_order_at: datetime | None = None
    # None until the owner chooses one (an account created by someone else).
    password_hash: str | None = Field(repr=False, exclude=True)


PasswordClass = Literal["lower", "upper", "digit", "special"]
LoginIdentifier = Literal["email", "registration_number", "card_number"]


class TenantSettings(_Value):
    """What a tenant decides about its accounts (the `tenant_settings` row; defaults for a new tenant)."""

    password_min_length: int = Field(
        MIN_PASSWORD, ge=MIN_PASSWORD, le=MAX_PASSWORD, description="Shortest password accepted (8 to 128)"
    )
    password_classes: tuple[PasswordClass, ...] = Field(
        ("lower", "upper", "digit", "special"),
        description="Character classes a password must hold: lower, upper, digit, special",
    )
    password_change_at_first_login: bool = Field(
        False, description="An account whose password an admin set must choose its own at first login"
    )
    login_identifiers: tuple[LoginIdentifier, ...] = Field(
        ("email", "registration_number", "card_number"),
        min_length=1,
        description="What people may log in with: email, registration_number, card_number",
    )
    lockout_threshold: int = Field(
        5,
        ge=1,
        le=100,
        description="Failed logins in a row from one source (client address) that lock the account for"
        " that source only; other sources can still log in",
    )
    lockout_minutes: int | None = Field(
        15,
        gt=0,
        description="How long a source's lockout lasts; null: until an admin unlocks the account (which"
        " unlocks every source)",
    )
    delete_without_order_days: int | None = Field(
        None,
        gt=0,
        description="Delete accounts that never ordered this many days after registration; null: never",
    )
    delete_after_last_order_days: int | None = Field(
        None, gt=0, description="Delete accounts this many days after their last order; null: never"
    )
    time_zone: TimeZoneName = Field(
        "UTC",
        description="The tenant's IANA time zone (e.g. Europe/Paris): the portal shows times in it and"
        " the other services count its days in it (published on identity.tenant.v1)",
    )


_CLASS_TESTS: dict[str, Callable[[str], bool]] = {
    "lower": str.islower,
    "upper": str.isupper,
    "digit": str.isdigit,
    "special": lambda c: not c.isalnum() and not c.isspace(),
}
_CLASS_NAMES = {
    "lower": "a lowercase letter",
    "upper": "an uppercase letter",
    "digit": "a digit",
    "special": "a special character",
}


def password_problems(settings: TenantSettings, password: str) -> list[str]:
    """What a password lacks under the tenant's policy (empty when it is acceptable)."""
    problems = []
    if len(password) < settings.password_min_length:
        problems.append(f"at least {settings.password_min_length} characters")
    if len(password) > MAX_PASSWORD:
        problems.append(f"at most {MAX_PASSWORD} characters")
    for name in settings.password_classes:
        if not any(_CLASS_TESTS[name](c) for c in password):
            problems.append(_CLASS_NAMES[name])
    return problems


class ActivationToken(_Value):
    """A stored activation token: only its digest is known, never the token itself."""

    account_id: uuid.UUID
    expires_at: datetime
    used_at: datetime | None


class OrganisationDetails(_Value):
    """What an organisation is besides its name and code; a shop's details are shown to customers."""

    kind: OrganisationKind = "partner"
    address: dict[str, Any] | None = None
    phone: str | None = None
    opening_hours: str | None = None


class Organisation(OrganisationDetails):
    organisation_id: uuid.UUID
    tenant_id: str
    name: str
    customer_code: str
    created_at: datetime


def new_customer_code() -> str:
    """A customer code for an organisation created without one (a shop): 10 letters and digits."""
    return secrets.token_hex(5).upper()


def new_activation_token() -> str:
    """A fresh secret for an activation link (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(ACTIVATION_TOKEN_BYTES)


def token_digest(token: str) -> bytes:
    """What is stored of an activation token: a leaked table gives no usable link."""
    return hashlib.sha256(token.encode()).digest()


def activation_url(public_url: str, tenant_id: str, token: str) -> str:
    """The link of the activation message: the portal's page of the tenant where its owner chooses
    her password and activates (a page, not the API: mail scanners that open links activate nothing)."""
    return f"{public_url}/{tenant_id}/activations/{token}"


def activation_decision(token: ActivationToken, status: AccountStatus, now: datetime) -> ActivationDecision:
    """What presenting this token does now.

    An account that is already active stays so whatever the token's age: clicking the link twice is
    not an error. Otherwise a token works until it expires, and only once: a used token never
    activates its account again (should it have been made inactive since).
    """
    if status == "active":
        return "already-active"
    if token.used_at is not None:
        return "used"
    if now >= token.expires_at:
        return "expired"
    return "activate"


def access_claims(account: Account, now: datetime, ttl: timedelta) -> dict[str, Any]:
    """The claims of an access token for `account` (docs/contracts.md)."""
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(account.account_id),
        "tid": account.tenant_id,
        "roles": list(account.roles),
        "iat": issued,
        "exp": issued + int(ttl.total_seconds()),
    }
    if account.organisation_id is not None:
        claims["org"] = str(account.organisation_id)
    return claims


# --- registration fields ---

MIN_AGE, MAX_AGE = 13, 120
# E.164: a '+', a country code that does not start with 0, at most 15 digits in all.
PHONE_PATTERN = re.compile(r"^\+[1-9][0-9]{6,14}$")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
PASSPORT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 -]{3,28}[A-Za-z0-9]$"
POSTAL_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 -]{1,10}[A-Za-z0-9]$"
# ISO 3166-1 alpha-2, the codes officially assigned.
_COUNTRY_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT
    BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER
    ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID
    IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV
    LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR
    NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
    SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC
    VE VG VI VN VU WF WS YE YT ZA ZM ZW"""
COUNTRIES = frozenset(_COUNTRY_CODES.split())


def normalise_phone(value: str) -> str:
    """A mobile number in E.164 (`+33612345678`), from what people type: spaces, dots, dashes and
    brackets are dropped, and a leading 00 is read as '+'. Raises ValueError when it cannot be one."""
    digits = _PHONE_SEPARATORS.sub("", value)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not PHONE_PATTERN.fullmatch(digits):
        raise ValueError("a mobile number in international form, e.g. +33612345678")
    return digits


class Address(BaseModel):
    """A postal address: where the catalogue is sent."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    line1: str = Field(min_length=1, max_length=200, description="Street and number")
    line2: str | None = Field(None, max_length=200, description="Building, floor, care of… (optional)")
    postal_code: str = Field(pattern=POSTAL_CODE_PATTERN, description="Postal code, 3 to 12 characters")
    city: str = Field(min_length=1, max_length=100, description="City")
    country: str = Field(description="Country, ISO 3166-1 alpha-2 (e.g. FR, RU)")

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in COUNTRIES:
            raise ValueError("an ISO 3166-1 alpha-2 country code, e.g. FR")
        return code

    @field_validator("line2")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None


def birth_date_problem(birth_date: date, today: date) -> str | None:
    """Why a birth date makes no sense for an account holder (None when it is plausible)."""
    if birth_date > today:
        return "a birth date cannot be in the future"
    age = today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))
    if age < MIN_AGE:
        return f"an account holder must be at least {MIN_AGE} years old"
    if age > MAX_AGE:
        return f"an age over {MAX_AGE} years is not plausible"
    return None


def display_name_of(given: str | None, first_name: str | None, last_name: str | None) -> str | None:
    """How to greet someone: the name given, else first and last name; None when neither is known."""
    if given:
        return given
    if first_name and last_name:
        return f"{first_name} {last_name}"
    return None


class PersonalData(NamedTuple):
    """What erasure looks for in the backbone tables (see `libs.common.erasure.scrub`)."""

    identifiers: list[str]  # unique to the person: any row holding one is theirs
    details: list[str]  # shared with others (names, birth date, address): theirs only in rows about them


def personal_data(account: Account) -> PersonalData:
    """Every personal value an account row holds."""
    identifiers = [
        account.email,
        account.phone,
        account.passport,
        account.registration_number,
        account.card_number,
    ]
    details: list[object] = [
        account.display_name,
        account.first_name,
        account.last_name,
        account.birth_date.isoformat() if account.birth_date else None,
        *(account.address or {}).values(),
    ]
    return PersonalData(
        [str(v) for v in identifiers if v is not None], [str(v) for v in details if v is not None]
    )


def roles_problem(roles: Iterable[str], organisation_id: uuid.UUID | None) -> str | None:
    """Why a set of roles cannot be given (None when it can)."""
    given = list(roles)
    if not given:
        return "at least one role"
    if len(set(given)) != len(given):
        return "each role once"
    if VALIDATOR in given and organisation_id is None:
        return "a validator validates the orders of her organisation: give the account an organisation"
    return None


# --- registration and card numbers ---

REGISTRATION_NUMBER_DIGITS = 8
CARD_NUMBER_DIGITS = 16
# A card number a shop types from a physical card: digits and letters (stored in capitals).
CARD_NUMBER_PATTERN = r"^[0-9A-Za-z]{4,32}$"


def registration_number(value: int) -> str:
    """The registration number of the tenant's `value`-th account: 8 digits, zero-padded."""
    return f"{value:0{REGISTRATION_NUMBER_DIGITS}d}"


def luhn_check_digit(digits: str) -> str:
    """The Luhn digit to append to `digits` (what card readers check against typing errors)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) > 1 and luhn_check_digit(number[:-1]) == number[-1]


def new_card_number() -> str:
    """A generated loyalty card number: 16 digits, the first not 0, the last a Luhn check digit."""
    body = str(secrets.randbelow(9) + 1) + "".join(
        str(secrets.randbelow(10)) for _ in range(CARD_NUMBER_DIGITS - 2)
    )
    return body + luhn_check_digit(body)


# --- one-time codes ---

CODE_DIGITS = 6
CodePurpose = Literal["activation", "recovery"]
CodeDecision = Literal["accept", "wrong", "expired", "exhausted", "used"]


class OneTimeCode(_Value):
    """A stored one-time code: only its digest is known."""

    account_id: uuid.UUID
    purpose: CodePurpose
    code_hash: bytes = Field(repr=False)
    channel: Literal["email", "sms"]
    attempts: int
    expires_at: datetime
    used_at: datetime | None


def new_code(digits: int = CODE_DIGITS) -> str:
    """A numeric code to type (leading zeros kept)."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def code_digest(account_id: uuid.UUID, purpose: CodePurpose, code: str) -> bytes:
    """What is stored of a code: salted with its account and purpose, so that one table of the
    million digests of 6 digits does not read every row at once."""
    return hashlib.sha256(f"{account_id}:{purpose}:{code}".encode()).digest()


def code_decision(code: OneTimeCode, given: str, now: datetime, max_attempts: int) -> CodeDecision:
    """What typing `given` does. A used, expired or exhausted code refuses even the right digits;
    a wrong guess counts against the code (the caller records it)."""
    if code.used_at is not None:
        return "used"
    if now >= code.expires_at:
        return "expired"
    if code.attempts >= max_attempts:
        return "exhausted"
    if not hmac.compare_digest(code.code_hash, code_digest(code.account_id, code.purpose, given)):
        return "wrong"
    return "accept"
