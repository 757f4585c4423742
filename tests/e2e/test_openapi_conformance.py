"""Every service's OpenAPI document tells what its routes answer: schemathesis sends generated
requests (valid and invalid) to every operation through the gateway, unauthenticated and as an
admin, and checks each answer against the document — no server error, no status the document does
not list, no body, content type or header that breaks it.

The run is derandomised (a fixed seed), so it sends the same requests every time. Operations that
end the caller's session or account run with a token of their own, replaced when it stops working,
so they cannot sign the admin out of the rest of the run.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import Failure, FailureGroup

from libs.devstack.devrun import Platform
from tests.e2e.conftest import PASSWORD, Api

pytestmark = [pytest.mark.asyncio(loop_scope="package"), pytest.mark.slow]

SERVICES = ("identity", "catalog", "ordering", "loyalty", "notify")
EXAMPLES = 25
# What ends the caller's session, sessions or account, or replaces the keys tokens are checked with.
DESTRUCTIVE = {
    ("DELETE", "/me"),
    ("POST", "/sessions/logout"),
    ("POST", "/me/sessions/revoke"),
    ("POST", "/me/password"),
    ("POST", "/signing-keys/rotate"),
    ("DELETE", "/accounts/{account_id}"),
}
# Checks left out: those that follow links between operations (stateful testing: the documents
# declare none), and the one expecting every schema-valid request to succeed — rules that depend
# on stored data (a tenant's password policy, which product codes exist) refuse some with 422, as
# documented.
LEFT_OUT = {"use_after_free", "ensure_resource_availability", "positive_data_acceptance"}


@dataclass
class Outcome:
    """What the run saw: requests per operation, statuses, and each failure once per operation and check."""

    operations: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)

    def failed(self, operation: str, check: str, message: str) -> None:
        self.failures.setdefault((operation, check), message)


class Admins:
    """The run's admin token, and fresh admins' tokens for the destructive operations. These are
    made by the admin of another tenant, whose settings (password policy…) the run leaves alone."""

    def __init__(self, http: requests.Session, gateway: str, token: str, tenant: str, maker: str) -> None:
        self.http, self.gateway, self.token = http, gateway, token
        self.tenant, self.maker = tenant, maker
        self._spare: str | None = None

    def fresh(self) -> str:
        """A token of an admin that still works: the last one handed out, or a new admin's."""
        if self._spare is not None and self._works(self._spare):
            return self._spare
        address = f"admin-{uuid.uuid4().hex[:8]}@{self.tenant}.test"
        invited = self.http.post(
            f"{self.gateway}/api/identity/accounts/invitations",
            headers={"Authorization": f"Bearer {self.maker}"},
            json={
                "email": address,
                "display_name": "Admin",
                "roles": ["admin"],
                "initial_password": PASSWORD,
            },
        )
        assert invited.status_code == 201, invited.text
        session = self.http.post(
            f"{self.gateway}/api/identity/sessions",
            json={"tenant_id": self.tenant, "email": address, "password": PASSWORD},
        )
        assert session.status_code == 200, session.text
        self._spare = str(session.json()["access_token"])
        return self._spare

    def _works(self, token: str) -> bool:
        me = self.http.get(f"{self.gateway}/api/identity/me", headers={"Authorization": f"Bearer {token}"})
        return me.status_code == 200


def _exercise(
    service: str,
    operation: schemathesis.APIOperation,
    base_url: str,
    http: requests.Session,
    token: Callable[[], str | None],
    outcome: Outcome,
) -> None:
    load_all_checks()
    checks = CHECKS.get_by_names([name for name in CHECKS.get_all_names() if name not in LEFT_OUT])
    label = f"{service} {operation.method.upper()} {operation.path}"
    strategies = [operation.as_strategy(mode) for mode in schemathesis.GenerationMode]

    @hypothesis.given(case=st.one_of(strategies))
    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        # A case that drops the token on purpose (negative testing) goes without it.
        bearer = None if case.operation.schema.is_security_param_negated(case) else token()
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else None
        try:
            response = case.call(base_url=base_url, session=http, headers=headers, timeout=30)
        except requests.RequestException as exc:
            outcome.failed(label, "transport", repr(exc))
            return
        outcome.requests[label] += 1
        outcome.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                _record(outcome, label, failure, case, response.status_code)

    run()


def _record(outcome: Outcome, label: str, failure: Failure, case: schemathesis.Case, status: int) -> None:
    check = type(failure).__name__
    request = f"{case.method} {case.formatted_path} query={case.query} body={str(case.body)[:200]}"
    outcome.failed(label, check, f"{status}: {failure.title}: {failure.message[:600]} ← {request}")


def _send_files_as_bytes(document: dict[str, Any]) -> None:
    """Files (PDF, images, spreadsheets) go as the raw bytes schemathesis generates for binary strings."""
    files = {
        media_type
        for item in document["paths"].values()
        for operation in item.values()
        for media_type in operation.get("requestBody", {}).get("content", {})
        if media_type != "application/json"
    }
    if files:
        schemathesis.serializer.alias(sorted(files), "application/octet-stream")


def _run(gateway: str, admins: Admins) -> Outcome:
    outcome = Outcome()
    with requests.Session() as http:
        for service in SERVICES:
            document = http.get(f"{gateway}/openapi/{service}.json").json()
            _send_files_as_bytes(document)
            schema = schemathesis.openapi.from_dict(document)
            base_url = f"{gateway}/api/{service}"
            for result in schema.get_all_operations():
                operation = result.ok()
                destructive = (operation.method.upper(), operation.path) in DESTRUCTIVE
                outcome.operations += 1
                _exercise(service, operation, base_url, http, lambda: None, outcome)
                as_admin = admins.fresh if destructive else lambda: admins.token
                _exercise(service, operation, base_url, http, as_admin, outcome)
    return outcome


# Every route, anonymous and as an admin, 25 cases each: about 100 s on the benchmarks' machines and
# up to 3 minutes on one half as fast, past the suite's 180 s guard against a hung test.
@pytest.mark.timeout(600)
async def test_every_route_answers_what_its_document_says(platform: Platform, api: Api) -> None:
    admin = await api.create_tenant(f"oas-{uuid.uuid4().hex[:6]}")
    spare_tenant = f"oas-spare-{uuid.uuid4().hex[:6]}"
    maker = await api.create_tenant(spare_tenant)
    started = time.monotonic()
    with requests.Session() as http:
        admins = Admins(http, platform.gateway_url, admin, spare_tenant, maker)
        outcome = await asyncio.to_thread(_run, platform.gateway_url, admins)
    took = time.monotonic() - started
    server_errors = sum(n for status, n in outcome.statuses.items() if status >= 500)
    print(
        f"schemathesis: {sum(outcome.requests.values())} requests to {len(outcome.requests)} operations"
        f" in {took:.0f}s; statuses {dict(sorted(outcome.statuses.items()))};"
        f" {len(outcome.failures)} failures ({server_errors} server errors)"
    )
    report = "\n".join(
        f"{op} [{check}] {message}" for (op, check), message in sorted(outcome.failures.items())
    )
    assert not outcome.failures, report
    assert len(outcome.requests) == outcome.operations, "every operation of every document is exercised"
