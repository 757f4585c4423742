"""Domain-neutral errors: what a use case raises when it refuses a request.

Use cases speak in these terms and never name an HTTP status: the HTTP layer maps each class to an
RFC 9457 problem in one place (`libs.common.http`), so the same use case could answer a message or
a command line. `kind` is a stable slug that clients may branch on (the problem's `type`).

    raise NotFound("account-not-found", "No such account", "the account no longer exists")
    raise Invalid.field("birth_date", "not a plausible birth date", "implausible_birth_date")
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One wrong value: `field` is its dotted path in the request (`lines.2.quantity`)."""

    field: str
    message: str
    type: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class DomainError(Exception):
    """A refusal: a stable `kind`, a short `title` and a `detail` for people; `extensions` are
    machine-readable facts a client may act on (an order's current status, a new quote), rendered as
    the problem's extension members."""

    def __init__(
        self, kind: str, title: str, detail: str | None = None, *, extensions: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(detail or title)
        self.kind = kind
        self.title = title
        self.detail = detail
        self.extensions = dict(extensions or {})


class NotFound(DomainError):
    """The thing named does not exist, or not for this caller."""


class Conflict(DomainError):
    """The request contradicts the current state (a duplicate, an account already active…)."""


class Gone(DomainError):
    """The thing named existed but can no longer be used (an expired or used link)."""


class Rejected(DomainError):
    """The request is refused as a whole, for the reason in `detail` (a wrong one-time code)."""


class Unauthenticated(DomainError):
    """A credential, token or ticket was not accepted."""


class Forbidden(DomainError):
    """The caller is known but may not do this (yet)."""


class Locked(DomainError):
    """Refused for a while; `retry_after` says how long when it is known."""

    def __init__(
        self, kind: str, title: str, detail: str | None = None, *, retry_after: timedelta | None = None
    ) -> None:
        super().__init__(kind, title, detail)
        self.retry_after = retry_after


class TooLarge(DomainError):
    """A value is larger than this service takes (an uploaded file)."""


class Invalid(DomainError):
    """One or more values of the request are wrong; `errors` names each by its path."""

    def __init__(
        self,
        errors: Sequence[FieldError],
        *,
        kind: str = "validation-error",
        title: str = "Invalid request body",
        detail: str | None = None,
    ) -> None:
        super().__init__(kind, title, detail)
        self.errors = list(errors)

    def __str__(self) -> str:
        return self.detail or "; ".join(f"{e.field}: {e.message}" for e in self.errors)

    @classmethod
    def field(cls, field: str, message: str, type: str, **kwargs: str) -> Invalid:
        """One wrong value (`type` is its machine-readable reason, e.g. `unknown_tenant`)."""
        return cls([FieldError(field, message, type)], **kwargs)


@contextlib.contextmanager
def fields_renamed(names: Mapping[str, str]) -> Iterator[None]:
    """Relabel the fields an `Invalid` raised inside names: a use case names its own parameters
    (`password`), the route the request's paths (`admin.password`).

        with fields_renamed({"password": "admin.password"}):
            password_hash = await hash_chosen_password(settings, body.admin.password)
    """
    try:
        yield
    except Invalid as error:
        error.errors = [replace(e, field=names.get(e.field, e.field)) for e in error.errors]
        raise
