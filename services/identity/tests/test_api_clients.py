"""API clients on the fast tier: an admin creates one (its secret shown once), which gets tokens with
the integration role for its tenant; a rotation or a revocation ends the old secret and its tokens."""

from __future__ import annotations

import jwt
import pytest

from services.identity.tests.conftest import Identity

pytestmark = pytest.mark.fast


async def token_for(identity: Identity, client_id: str, secret: str) -> tuple[int, dict[str, str]]:
    body = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    status, answer = await identity.call("POST", "/oauth/token", body)
    return status, answer


async def test_a_client_gets_integration_tokens_for_its_tenant_until_its_secret_changes(
    identity: Identity,
) -> None:
    tenant, admin = await identity.create_tenant()
    status, client = await identity.call("POST", "/api-clients", {"name": "ERP"}, token=admin)
    assert status == 201, client
    client_id, secret = client["client_id"], client["client_secret"]
    status, listed = await identity.call("GET", "/api-clients", token=admin)
    assert [c["client_id"] for c in listed] == [client_id]
    assert "client_secret" not in listed[0]  # shown once
    stored = await identity.db.fetchval(
        "SELECT secret_digest FROM api_clients WHERE client_id = $1::uuid", client_id
    )
    assert secret.encode() not in bytes(stored)

    status, token = await token_for(identity, client_id, secret)
    assert status == 200, token
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["tid"], claims["roles"]) == (client_id, tenant, ["integration"])

    for wrong in ((client_id, secret + "x"), ("not-a-client", secret), (client_id, "")):
        status, problem = await token_for(identity, *wrong)
        assert status in (401, 422), problem

    status, rotated = await identity.call("POST", f"/api-clients/{client_id}/rotate", token=admin)
    assert status == 200 and rotated["client_secret"] != secret
    assert (await token_for(identity, client_id, secret))[0] == 401
    assert (await token_for(identity, client_id, rotated["client_secret"]))[0] == 200
    ended = [e for _, _, e in await identity.published(client_id) if e["type"] == "identity.session.revoked"]
    assert [e["data"]["session_ids"] for e in ended] == [[claims["sid"]]]  # the old secret's tokens

    status, revoked = await identity.call("POST", f"/api-clients/{client_id}/revoke", token=admin)
    assert status == 200 and revoked["revoked_at"]
    assert (await token_for(identity, client_id, rotated["client_secret"]))[0] == 401
    assert (await identity.call("POST", f"/api-clients/{client_id}/rotate", token=admin))[0] == 409


async def test_clients_are_the_tenants_admins_only(identity: Identity) -> None:
    _, admin = await identity.create_tenant()
    _, other_admin = await identity.create_tenant()
    _, client = await identity.call("POST", "/api-clients", {"name": "ERP"}, token=admin)
    assert (await identity.call("POST", f"/api-clients/{client['client_id']}/revoke", token=other_admin))[
        0
    ] == 404
    assert (await identity.call("GET", "/api-clients", token=other_admin))[1] == []
    status, problem = await identity.call("POST", "/api-clients", {"name": ""}, token=admin)
    assert (status, problem["errors"][0]["field"]) == (422, "name")
