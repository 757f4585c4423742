"""What identity declares to others: its event catalog and its OpenAPI document (no server needed)."""

from __future__ import annotations

import pytest

from libs.common.api import openapi_document
from libs.common.runtime import worker_name
from services.identity.app import Settings, build_spec
from services.identity.routes import accounts, activations, me, organisations, registration, tenants

SPEC = build_spec(Settings())


pytestmark = pytest.mark.fast


def test_the_catalog_keeps_contact_data_and_activation_links_on_internal_topics() -> None:
    catalog = SPEC.events.json_schemas()
    assert {name: (entry["topic"], entry["internal"]) for name, entry in catalog.items()} == {
        "identity.account.registered": ("identity.account.v1", False),
        "identity.account.activated": ("identity.account.v1", False),
        "identity.account.membership_changed": ("identity.account.v1", False),
        "identity.account.deleted": ("identity.account.v1", False),
        "identity.organisation.created": ("identity.organisation.v1", False),
        "identity.organisation.updated": ("identity.organisation.v1", False),
        "identity.tenant.settings_changed": ("identity.tenant.v1", False),
        "identity.contact.changed": ("internal.identity.contact.v1", True),
        "identity.account.facts_changed": ("internal.identity.facts.v1", True),
        "identity.activation.requested": ("internal.notify.requests.v1", True),
        "identity.activation.code_requested": ("internal.notify.requests.v1", True),
        "identity.recovery.requested": ("internal.notify.requests.v1", True),
        "identity.session.revoked": ("internal.identity.session.v1", True),
    }
    for entry in catalog.values():
        assert all(field.get("description") for field in entry["schema"]["properties"].values())


def test_openapi_says_which_account_routes_need_a_token_and_who_reaches_what() -> None:
    account_routes = [tenants, organisations, registration, accounts, activations, me]
    paths = openapi_document(SPEC.name, [e for module in account_routes for e in module.ENDPOINTS])["paths"]
    public = {(m.upper(), p) for p, ops in paths.items() for m, op in ops.items() if "security" not in op}
    assert public == {
        ("POST", "/tenants"),
        ("GET", "/tenants/{tenant_id}"),
        ("POST", "/accounts"),
        ("GET", "/activations/{token}"),
        ("POST", "/activations"),
        ("POST", "/activations/code"),
        ("POST", "/activations/resend"),
    }
    grants = {
        (m.upper(), p): op["x-roles"] for p, ops in paths.items() for m, op in ops.items() if "x-roles" in op
    }
    admin = {"admin": "tenant"}
    assert grants == {
        ("GET", "/tenant/settings"): admin,
        ("PUT", "/tenant/settings"): admin,
        ("POST", "/organisations"): admin,
        ("GET", "/organisations"): admin,
        ("GET", "/organisations/{organisation_id}"): {"*": "organisation", "admin": "tenant"},
        ("PATCH", "/organisations/{organisation_id}"): admin,
        ("GET", "/organisations/{organisation_id}/members"): {"admin": "tenant", "validator": "organisation"},
        ("POST", "/accounts/invitations"): admin,
        ("POST", "/accounts/customers"): {"admin": "tenant", "shop": "tenant"},
        ("POST", "/accounts/me/team"): {"seller": "self"},
        ("GET", "/accounts/me/team"): {"seller": "self"},
        ("GET", "/accounts"): {"admin": "tenant", "validator": "organisation"},
        ("GET", "/accounts/{account_id}"): {"*": "self", "validator": "organisation", "admin": "tenant"},
        ("PATCH", "/accounts/{account_id}"): admin,
        ("DELETE", "/accounts/{account_id}"): admin,
        ("GET", "/me"): {"*": "tenant"},
        ("PATCH", "/me"): {"*": "tenant"},
        ("DELETE", "/me"): {"*": "tenant"},
    }


def test_every_route_naming_a_resource_looks_up_its_owner() -> None:
    for endpoint in SPEC.endpoints:
        if endpoint.roles is not None and endpoint.path_parameters:
            assert endpoint.owner is not None, endpoint.path
    routes = [(e.method, e.path) for e in SPEC.endpoints]
    assert len(routes) == len(set(routes))


def test_settings_defaults() -> None:
    settings = Settings.model_construct()
    assert (settings.service_name, settings.http_port) == ("identity", 8081)
    policy = Settings(activation_ttl_hours=1.5, access_token_ttl_s=60).policy()
    assert policy.activation_ttl.total_seconds() == 5400 and policy.access_token_ttl.total_seconds() == 60
    policy = Settings(activation_resend_interval_s=5, inactivity_sweep_batch=7).policy()
    assert policy.activation_resend_interval.total_seconds() == 5 and policy.inactivity_batch == 7


def test_identity_consumes_submitted_orders_and_runs_the_inactivity_sweep_and_the_key_rotation() -> None:
    assert {topic: sorted(types) for topic, types in SPEC.handlers.items()} == {
        "ordering.order.v1": ["ordering.order.confirmed"]
    }
    assert [worker_name(worker) for worker in SPEC.workers] == [
        "sweep_inactive_accounts",
        "rotate_signing_keys",
    ]
