"""Identity's pure rules: accounts, activation tokens and the claims of an access token."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.common.auth import AUDIENCE, ISSUER
from services.identity.events import Locale

ADMIN, PARTNER = "admin", "partner"
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
    """An account about to be created (its password already hashed elsewhere)."""

    tenant_id: str
    email: str
    display_name: str
    locale: Locale
    roles: list[str]
    organisation_id: uuid.UUID | None = None


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
    password_change_required: bool = False
    failed_logins: int = 0
    locked_at: datetime | None = None
    last_login_at: datetime | None = None
    last_order_at: datetime | None = None
    # None until the owner chooses one (an account created by someone else).
    password_hash: str | None = Field(repr=False, exclude=True)


PasswordClass = Literal["lower", "upper", "digit", "special"]
LoginIdentifier = Literal["email", "registration_number", "card_number"]


class TenantSettings(_Value):
    """What a tenant decides about its accounts (the `tenant_settings` row; defaults for a new tenant)."""

    password_min_length: int = Field(MIN_PASSWORD, ge=MIN_PASSWORD, le=MAX_PASSWORD)
    password_classes: tuple[PasswordClass, ...] = ("lower", "upper", "digit", "special")
    password_change_at_first_login: bool = False
    login_identifiers: tuple[LoginIdentifier, ...] = Field(
        ("email", "registration_number", "card_number"), min_length=1
    )
    lockout_threshold: int = Field(5, ge=1, le=100)
    lockout_minutes: int | None = Field(15, gt=0)
    delete_without_order_days: int | None = Field(None, gt=0)
    delete_after_last_order_days: int | None = Field(None, gt=0)


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


class Organisation(_Value):
    organisation_id: uuid.UUID
    tenant_id: str
    name: str
    customer_code: str


def new_activation_token() -> str:
    """A fresh secret for an activation link (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(ACTIVATION_TOKEN_BYTES)


def token_digest(token: str) -> bytes:
    """What is stored of an activation token: a leaked table gives no usable link."""
    return hashlib.sha256(token.encode()).digest()


def activation_url(public_url: str, token: str) -> str:
    """The link of the activation email, through the gateway (`/api/identity/...` → identity)."""
    return f"{public_url}/api/identity/activations/{token}"


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
