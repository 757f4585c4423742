"""What identity declares to others: its event catalog and its OpenAPI document (no server needed)."""

from __future__ import annotations

from libs.common.api import openapi_document
from services.identity.app import SPEC, Settings


def test_the_catalog_keeps_contact_data_and_activation_links_on_internal_topics() -> None:
    catalog = SPEC.events.json_schemas()
    assert {name: (entry["topic"], entry["internal"]) for name, entry in catalog.items()} == {
        "identity.account.registered": ("identity.account.v1", False),
        "identity.account.activated": ("identity.account.v1", False),
        "identity.contact.changed": ("identity.contact.v1", True),
        "identity.activation.requested": ("notify.requests.v1", True),
    }
    for entry in catalog.values():
        assert all(field.get("description") for field in entry["schema"]["properties"].values())


def test_openapi_says_which_routes_need_a_token() -> None:
    paths = openapi_document(SPEC.name, SPEC.endpoints)["paths"]
    public = {(m.upper(), p) for p, ops in paths.items() for m, op in ops.items() if "security" not in op}
    assert public == {
        ("GET", "/.well-known/jwks.json"),
        ("POST", "/tenants"),
        ("POST", "/accounts"),
        ("GET", "/activations/{token}"),
        ("POST", "/activations"),
        ("POST", "/sessions"),
    }
    assert paths["/organisations"]["post"]["x-roles"] == {"admin": "tenant"}
    assert paths["/me"]["get"]["x-roles"] == {"*": "tenant"}


def test_settings_defaults() -> None:
    settings = Settings.model_construct()
    assert (settings.service_name, settings.http_port) == ("identity", 8081)
    policy = Settings(activation_ttl_hours=1.5, access_token_ttl_s=60).policy()
    assert policy.activation_ttl.total_seconds() == 5400 and policy.access_token_ttl.total_seconds() == 60
