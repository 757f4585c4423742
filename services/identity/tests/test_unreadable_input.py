"""Text no database can store or no person can read: a 422 naming the field, never a 500."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from services.identity.tests.conftest import PASSWORD, Identity

pytestmark = pytest.mark.fast


# (method, path, body, field); "{tenant}" and "{organisation}" are filled in, `admin` says who calls.
ROUTES: list[tuple[str, str, dict[str, Any] | None, str, bool]] = [
    (
        "POST",
        "/sessions",
        {"tenant_id": "{tenant}", "login": "a\x00@x.test", "password": PASSWORD},
        "login",
        False,
    ),
    (
        "POST",
        "/accounts",
        {"tenant_id": "{tenant}", "email": "n@x.test", "password": PASSWORD, "display_name": "N\x00"},
        "display_name",
        False,
    ),
    ("POST", "/recoveries", {"tenant_id": "{tenant}", "login": "a\x00@x.test"}, "login", False),
    ("POST", "/activations/resend", {"tenant_id": "{tenant}", "login": "a\x00@x.test"}, "login", False),
    ("POST", "/organisations", {"name": "Pharmacie\x00", "customer_code": "C-9"}, "name", True),
    ("PATCH", "/organisations/{organisation}", {"name": "Pharmacie\x00"}, "name", True),
    ("PATCH", "/me", {"display_name": "Admin\x00"}, "display_name", True),
    ("GET", "/accounts?q=%00", None, "q", True),
    ("PATCH", "/organisations/{organisation}", {"customer_code": "C\n1"}, "customer_code", True),
]


@pytest.mark.parametrize(("method", "path", "body", "field", "as_admin"), ROUTES)
async def test_a_nul_or_control_character_is_a_422_naming_the_field(
    identity: Identity, method: str, path: str, body: dict[str, Any] | None, field: str, as_admin: bool
) -> None:
    tenant, admin = await identity.create_tenant()
    organisation = await identity.organisation(admin, "C-1001", "Pharmacie du Marché")
    filled = {k: v.replace("{tenant}", tenant) if isinstance(v, str) else v for k, v in (body or {}).items()}
    target = path.replace("{organisation}", organisation)

    status, problem = await identity.call(
        method, target, filled if body is not None else None, token=admin if as_admin else None
    )

    assert status == 422, problem
    assert [error["field"] for error in problem["errors"]] == [field]
    assert await identity.call("GET", f"/organisations/{organisation}", token=admin) == (
        200,
        {
            "organisation_id": organisation,
            "name": "Pharmacie du Marché",
            "customer_code": "C-1001",
            "kind": "partner",
            "address": None,
            "phone": None,
            "opening_hours": None,
        },
    )


async def test_a_control_character_in_a_path_parameter_is_a_422_naming_it(identity: Identity) -> None:
    status, problem = await identity.call("GET", "/activations/tok%00en")
    assert status == 422, problem
    assert [error["field"] for error in problem["errors"]] == ["token"]
    assert (await identity.call("GET", f"/activations/{uuid.uuid4()}"))[0] != 422


async def test_a_platform_key_byte_that_is_not_utf8_is_a_422_naming_the_header(identity: Identity) -> None:
    """Written by hand: the client library would drop the byte (aiohttp hands it over as a surrogate)."""
    host, port = identity.url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    body = json.dumps({"tenant_id": "brand-x", "name": "X"}).encode()
    writer.write(
        b"POST /tenants HTTP/1.1\r\nHost: identity\r\nConnection: close\r\nX-Platform-Key: k\xff\r\n"
        + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    answer = await reader.read()
    writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 422 Unprocessable Entity", answer
    assert [e["field"] for e in json.loads(payload)["errors"]] == ["X-Platform-Key"]
