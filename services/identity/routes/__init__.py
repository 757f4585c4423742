"""Identity's HTTP API, one module per resource, each with its slice of the endpoint table;
`ENDPOINTS` is the whole table, in the order the OpenAPI document lists it."""

from __future__ import annotations

from services.identity.routes import (
    accounts,
    activations,
    clients,
    keys,
    me,
    merchants,
    organisations,
    passwords,
    registration,
    sessions,
    tenants,
)
from services.identity.routes.common import POLICY, setup

ENDPOINTS = [
    *tenants.ENDPOINTS,
    *merchants.ENDPOINTS,
    *organisations.ENDPOINTS,
    *registration.ENDPOINTS,
    *accounts.ENDPOINTS,
    *activations.ENDPOINTS,
    *me.ENDPOINTS,
    *keys.ENDPOINTS,
    *sessions.ENDPOINTS,
    *clients.ENDPOINTS,
    *passwords.ENDPOINTS,
]

__all__ = ["ENDPOINTS", "POLICY", "setup"]
