"""Logging in, the tokens identity signs, the key set that verifies them, and the caller's profile."""

from __future__ import annotations

import asyncio
import time
import uuid

import jwt

from libs.common.auth import AUDIENCE, ISSUER
from libs.common.testing import TokenMinter
from services.identity import signing
from services.identity.tests.conftest import PASSWORD, Identity


async def test_login_is_refused_before_activation_and_gives_a_token_the_jwks_verifies_after(
    identity: Identity,
) -> None:
    tenant, _ = await identity.create_tenant()
    account_id = await identity.registered(tenant, "claire@pharmacie.test")
    credentials = {"tenant_id": tenant, "email": "claire@pharmacie.test", "password": PASSWORD}

    status, problem = await identity.call("POST", "/sessions", credentials)
    assert status == 403 and problem["type"] == "urn:comptoir:problem:account-not-activated"

    await identity.call("GET", await identity.activation_link(account_id))
    status, session = await identity.call(
        "POST", "/sessions", credentials | {"email": "CLAIRE@pharmacie.test"}
    )
    assert status == 200 and session["token_type"] == "Bearer" and session["expires_in"] == 900

    status, jwks = await identity.call("GET", "/.well-known/jwks.json")
    assert status == 200
    token = session["access_token"]
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    assert {k: jwk[k] for k in ("kty", "crv", "alg", "use")} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
    }
    claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER)
    assert claims["sub"] == account_id and claims["tid"] == tenant and claims["roles"] == ["partner"]
    assert "org" not in claims
    assert claims["exp"] - claims["iat"] == 900 and abs(claims["iat"] - time.time()) < 60


async def test_a_wrong_password_and_an_unknown_email_get_the_same_401(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    await identity.activated(tenant, "claire@pharmacie.test")

    wrong_password = await identity.call(
        "POST",
        "/sessions",
        {"tenant_id": tenant, "email": "claire@pharmacie.test", "password": "Wrong-Horse-9"},
    )
    unknown_email = await identity.call(
        "POST", "/sessions", {"tenant_id": tenant, "email": "nobody@pharmacie.test", "password": PASSWORD}
    )
    unknown_tenant = await identity.call(
        "POST",
        "/sessions",
        {"tenant_id": "no-such-brand", "email": "claire@pharmacie.test", "password": PASSWORD},
    )
    assert wrong_password[0] == 401
    assert wrong_password == unknown_email == unknown_tenant


async def test_a_pending_account_with_a_wrong_password_is_told_nothing_about_its_state(
    identity: Identity,
) -> None:
    tenant, _ = await identity.create_tenant()
    await identity.registered(tenant, "claire@pharmacie.test")
    status, _ = await identity.call(
        "POST",
        "/sessions",
        {"tenant_id": tenant, "email": "claire@pharmacie.test", "password": "Wrong-Horse-9"},
    )
    assert status == 401


async def test_me_describes_the_caller(identity: Identity) -> None:
    tenant, _ = await identity.create_tenant()
    account_id, token = await identity.activated(tenant, "claire@pharmacie.test")

    status, me = await identity.call("GET", "/me", token=token)
    assert (status, me) == (
        200,
        {
            "account_id": account_id,
            "tenant_id": tenant,
            "email": "claire@pharmacie.test",
            "display_name": "Claire",
            "locale": "fr",
            "roles": ["partner"],
            "organisation_id": None,
            "status": "active",
        },
    )
    await identity.db.execute("DELETE FROM accounts WHERE account_id = $1", uuid.UUID(account_id))
    status, problem = await identity.call("GET", "/me", token=token)
    assert status == 404 and problem["type"] == "urn:comptoir:problem:account-not-found"


async def test_tokens_not_signed_by_identity_are_refused(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    status, me = await identity.call("GET", "/me", token=admin)
    assert status == 200
    forged = TokenMinter().mint(account_id=me["account_id"], tenant_id=tenant, roles=["admin"])
    for path in ("/me", "/organisations"):
        status, problem = await identity.call("GET", path, token=forged)
        assert status == 401 and problem["type"] == "urn:comptoir:problem:invalid-token"
    status, _ = await identity.call("GET", "/me")
    assert status == 401


async def test_replicas_starting_together_create_one_signing_key(identity: Identity) -> None:
    keys = await asyncio.gather(*(signing.current_key(identity.db) for _ in range(5)))
    assert len({key.kid for key in keys}) == 1
    assert await identity.db.fetchval("SELECT count(*) FROM signing_keys") == 1
    status, jwks = await identity.call("GET", "/.well-known/jwks.json")
    assert status == 200 and [k["kid"] for k in jwks["keys"]] == [keys[0].kid]
