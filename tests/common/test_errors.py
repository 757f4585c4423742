"""Use cases refuse with domain errors; the HTTP layer alone gives each its status and shape."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from libs.common import errors
from libs.common.http import problem_of

pytestmark = pytest.mark.fast


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.Rejected("recovery-code-invalid", "Invalid recovery code"), 400),
        (errors.Unauthenticated("invalid-credentials", "Invalid credentials"), 401),
        (errors.Forbidden("account-not-activated", "Account not activated"), 403),
        (errors.NotFound("not-found", "Not found"), 404),
        (errors.Conflict("already-active", "Account already active"), 409),
        (errors.Gone("activation-expired", "Activation link expired"), 410),
        (errors.TooLarge("payload-too-large", "File too large"), 413),
        (errors.Invalid.field("tenant_id", "no such tenant", "unknown_tenant"), 422),
        (errors.Locked("account-locked", "Account locked"), 423),
    ],
)
def test_each_refusal_has_its_status(error: errors.DomainError, status: int) -> None:
    problem = problem_of(error)
    assert problem.status == status
    assert problem.type == f"urn:comptoir:problem:{error.kind}"
    assert problem.title == error.title


def test_an_invalid_request_names_each_field_by_its_path() -> None:
    error = errors.Invalid(
        [
            errors.FieldError("lines.0.code", "unknown product code X", "unknown-product"),
            errors.FieldError("lines.1.quantity", "too many", "too-many"),
        ],
        kind="order-rejected",
        title="The order cannot be submitted",
        detail="two lines cannot be ordered",
    )
    problem = problem_of(error)
    assert (problem.status, problem.type) == (422, "urn:comptoir:problem:order-rejected")
    assert problem.detail == "two lines cannot be ordered"
    assert problem.errors == [
        {"field": "lines.0.code", "message": "unknown product code X", "type": "unknown-product"},
        {"field": "lines.1.quantity", "message": "too many", "type": "too-many"},
    ]


def test_one_invalid_field_reads_like_a_body_validation_error() -> None:
    problem = problem_of(errors.Invalid.field("birth_date", "not plausible", "implausible_birth_date"))
    assert (problem.title, problem.type, problem.detail) == (
        "Invalid request body",
        "urn:comptoir:problem:validation-error",
        None,
    )
    assert str(errors.Invalid.field("birth_date", "not plausible", "x")) == "birth_date: not plausible"


def test_a_lock_with_an_end_says_when_to_retry() -> None:
    locked = errors.Locked("account-locked", "Account locked", "later", retry_after=timedelta(seconds=90.5))
    assert problem_of(locked).headers == {"Retry-After": "90"}
    assert problem_of(errors.Locked("account-locked", "Account locked")).headers == {}
    # Never "0": a client would retry at once.
    assert problem_of(errors.Locked("x", "y", retry_after=timedelta(0))).headers == {"Retry-After": "1"}


def test_a_refusal_of_no_known_kind_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="no kind of refusal"):
        problem_of(errors.DomainError("x", "the base class is never raised"))


def test_a_route_relabels_the_fields_a_use_case_names_and_keeps_the_rest_of_each_error() -> None:
    @dataclasses.dataclass(frozen=True)
    class Detailed(errors.FieldError):
        lacks: tuple[str, ...] = ()

    refusal = errors.Invalid(
        [
            Detailed("password", "too short", "password_policy", ("a digit",)),
            errors.FieldError("email", "bad", "x"),
        ],
        kind="password-policy",
    )
    with pytest.raises(errors.Invalid) as raised, errors.fields_renamed({"password": "admin.password"}):
        raise refusal
    assert raised.value.kind == "password-policy"
    assert [e.as_dict() for e in raised.value.errors] == [
        {"field": "admin.password", "message": "too short", "type": "password_policy", "lacks": ("a digit",)},
        {"field": "email", "message": "bad", "type": "x"},
    ]
    with pytest.raises(errors.NotFound), errors.fields_renamed({"password": "admin.password"}):
        raise errors.NotFound("gone", "Gone")  # other refusals pass through untouched
