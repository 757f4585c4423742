"""Signing keys: one first key for all replicas, rotation without downtime, and the JWKS over time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import jwt
import pytest

from libs.common.auth import TokenVerifier, jwks_source
from libs.common.http import Problem
from libs.devstack.testing import wait_until
from services.identity import signing, workers
from services.identity.session_store import StoredKey
from services.identity.tests.credentials_support import (
    PLATFORM_KEY,
    Credentials,
    add_account,
    add_tenant,
    identity_in_process,
)

pytestmark = pytest.mark.fast

ROTATE = {"X-Platform-Key": PLATFORM_KEY}


@pytest.fixture
async def ident(db: asyncpg.Connection) -> AsyncIterator[Credentials]:
    async with identity_in_process(db) as running:
        yield running


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def jwks_kids(ident: Credentials) -> set[str]:
    status, jwks = await ident.call("GET", "/.well-known/jwks.json")
    assert status == 200
    return {key["kid"] for key in jwks["keys"]}


class CountingVerifier(TokenVerifier):
    """Another service's verifier: fetches identity's JWKS over HTTP; counts its fetches."""

    def __init__(self, ident: Credentials, min_refresh: float) -> None:
        self.fetches = 0
        fetch = jwks_source(f"{ident.url}/.well-known/jwks.json", ident.http)

        async def counted() -> Mapping[str, Any]:
            self.fetches += 1
            return await fetch()

        super().__init__(counted, min_refresh=min_refresh)


async def test_a_rotation_publishes_the_next_key_before_it_signs_and_the_old_one_until_its_tokens_expire(
    ident: Credentials,
) -> None:
    tenant = await add_tenant(ident.db)
    await add_account(ident.db, tenant, "claire@pharmacie.test")
    before = (await ident.session(tenant, "claire@pharmacie.test"))["access_token"]
    old_kid = kid_of(before)
    # A service that verified a token of the old key: it knows only that key.
    elsewhere = CountingVerifier(ident, min_refresh=0)
    await elsewhere.verify(before)

    status, rotation = await ident.call("POST", "/signing-keys/rotate", headers=ROTATE)
    assert status == 200 and rotation["retired"] == [old_kid]
    new_kid = rotation["kid"]
    takeover = datetime.fromisoformat(rotation["signs_from"])
    assert timedelta(seconds=10) < takeover - datetime.now(UTC) <= signing.PREPUBLICATION
    assert datetime.fromisoformat(rotation["published_until"]) == takeover + timedelta(minutes=16)
    # Asked again while under way: the same rotation, not a second one.
    assert (await ident.call("POST", "/signing-keys/rotate", headers=ROTATE))[1] == rotation
    assert await jwks_kids(ident) == {old_kid, new_kid}
    assert kid_of((await ident.session(tenant, "claire@pharmacie.test"))["access_token"]) == old_kid
    # A service that fetched the key set meanwhile already knows the next key.
    meanwhile = CountingVerifier(ident, min_refresh=5)
    await meanwhile.verify(before)

    # The takeover time comes (moved into the past rather than waited for).
    await ident.db.execute(
        "UPDATE signing_keys SET signs_from = signs_from - interval '16 s' WHERE kid = $1", new_kid
    )
    await ident.db.execute(
        "UPDATE signing_keys SET retired_at = retired_at - interval '16 s',"
        " published_until = published_until - interval '16 s' WHERE kid = $1",
        old_kid,
    )
    after = (await ident.session(tenant, "claire@pharmacie.test"))["access_token"]
    assert kid_of(after) == new_kid
    for verifier in (elsewhere, meanwhile):
        assert (await verifier.verify(after)).tenant_id == tenant
        assert (await verifier.verify(before)).tenant_id == tenant  # the old key's tokens still verify
    assert elsewhere.fetches == 2  # refetched at the unknown kid
    assert meanwhile.fetches == 1  # knew it before it signed: no refetch, no window of refusals

    # Every token of the old key has expired: it leaves the key set, and the next rotation deletes it.
    await ident.db.execute(
        "UPDATE signing_keys SET published_until = now() - interval '1 s' WHERE kid = $1", old_kid
    )
    assert await jwks_kids(ident) == {new_kid}
    with pytest.raises(Problem) as refused:
        await CountingVerifier(ident, min_refresh=0).verify(before)
    assert refused.value.status == 401
    status, next_rotation = await ident.call("POST", "/signing-keys/rotate", headers=ROTATE)
    assert status == 200 and next_rotation["retired"] == [new_kid]
    assert await ident.db.fetchval("SELECT count(*) FROM signing_keys WHERE kid = $1", old_kid) == 0


async def test_the_worker_rotates_a_key_once_older_than_the_rotation_period(ident: Credentials) -> None:
    first = await signing.current_key(ident.db, ident.policy)
    ident.clock.advance(ident.policy.key_rotation - timedelta(seconds=1))
    assert await signing.rotate_if_due(ident.db, ident.policy) is None  # a fresh key is left alone
    assert await ident.db.fetchval("SELECT count(*) FROM signing_keys") == 1

    ident.clock.advance(timedelta(seconds=1))
    # Due: the next key is published, the current one goes on signing until it takes over.
    rotation = await signing.rotate_if_due(ident.db, ident.policy)
    assert rotation is not None and rotation.retired == [first.kid]
    assert ident.clock() < rotation.signs_from <= ident.clock() + signing.PREPUBLICATION
    assert await signing.rotate_if_due(ident.db, ident.policy) is None  # under way: not started again
    assert (await signing.current_key(ident.db, ident.policy)).kid == first.kid
    assert await ident.db.fetchval("SELECT count(*) FROM signing_keys") == 2
    ident.clock.advance(signing.PREPUBLICATION)
    second = await signing.current_key(ident.db, ident.policy)
    assert second.kid == rotation.kid != first.kid
    assert await jwks_kids(ident) == {first.kid, second.kid}

    ident.clock.advance(ident.policy.access_token_ttl + signing.PUBLICATION_MARGIN)
    assert await jwks_kids(ident) == {second.kid}


async def test_a_login_signs_with_the_current_key_and_never_rotates_it(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    await add_account(ident.db, tenant, "claire@pharmacie.test")
    old_kid = kid_of((await ident.session(tenant, "claire@pharmacie.test"))["access_token"])
    await ident.db.execute("UPDATE signing_keys SET signs_from = signs_from - interval '31 days'")

    assert kid_of((await ident.session(tenant, "claire@pharmacie.test"))["access_token"]) == old_kid
    assert len(await jwks_kids(ident)) == 1  # overdue, yet left to the worker


async def test_the_rotation_worker_rotates_a_due_key_at_start_and_keeps_checking(ident: Credentials) -> None:
    first = await signing.current_key(ident.db, ident.policy)
    ident.clock.advance(ident.policy.key_rotation)
    stopping = asyncio.Event()
    worker = asyncio.create_task(
        workers.rotate_signing_keys(ident.db, stopping, policy=ident.policy, interval_s=0.05)
    )
    try:

        async def rotated() -> bool:
            return len(await jwks_kids(ident)) == 2

        await wait_until(rotated, "the due key rotated by the worker")
        (second,) = await jwks_kids(ident) - {first.kid}
        ident.clock.advance(signing.PREPUBLICATION + ident.policy.key_rotation)  # the new key is due too

        async def rotated_again() -> bool:
            kids = {row["kid"] for row in await ident.db.fetch("SELECT kid FROM signing_keys")}
            return bool(kids - {first.kid, second})

        await wait_until(rotated_again, "the next due key rotated by the worker")
    finally:
        stopping.set()
        await asyncio.wait_for(worker, 5)


async def test_rotating_needs_the_platform_key(ident: Credentials) -> None:
    for headers in (None, {"X-Platform-Key": "guess"}):
        status, problem = await ident.call("POST", "/signing-keys/rotate", headers=headers)
        assert status == 403 and problem["type"] == "urn:comptoir:problem:platform-key-required"
    assert await ident.db.fetchval("SELECT count(*) FROM signing_keys") == 0


def _key(
    kid: str, signs_from: datetime, retired_at: datetime | None = None, until: datetime | None = None
) -> StoredKey:
    return StoredKey(
        kid=kid, private_pem="", signs_from=signs_from, retired_at=retired_at, published_until=until
    )


def test_the_newest_started_key_signs_and_retired_keys_stay_published_until_their_end() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    second = timedelta(seconds=1)
    old = _key("old", now - timedelta(days=30), retired_at=now + 10 * second, until=now + 1000 * second)
    new = _key("new", now + 10 * second)
    keys = [old, new]
    assert signing.signer(keys, now) == old and signing.pending(keys, now) == new
    assert not signing.rotation_due(keys, now, timedelta(days=30))  # under way already
    assert signing.signer(keys, now + 10 * second) == new and signing.pending(keys, now + 10 * second) is None
    assert signing.published(keys, now + 999 * second) == keys
    assert signing.published(keys, now + 1000 * second) == [new]
    assert signing.rotation_due([new], now + timedelta(days=30, seconds=10), timedelta(days=30))
