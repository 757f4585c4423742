"""Token verification: what a verified-token cache must never change."""

from __future__ import annotations

import asyncio
import time

import pytest

from libs.common.auth import Revocations, TokenVerifier
from libs.common.http import Problem
from libs.devstack.testing import TokenMinter

pytestmark = pytest.mark.fast

CLAIMS = {"account_id": "a1", "tenant_id": "brand-a", "roles": ["partner"], "organisation_id": "o1"}


async def test_a_verified_token_is_trusted_again_only_until_it_expires() -> None:
    minter = TokenMinter()
    verifier = TokenVerifier(minter.source)
    token = minter.mint(**CLAIMS, ttl=1)
    first = await verifier.verify(token)
    assert first == await verifier.verify(token)  # from the cache: the same principal
    assert (first.account_id, first.organisation_id, first.roles) == ("a1", "o1", frozenset({"partner"}))
    await asyncio.sleep(2.1)  # exp is in whole seconds
    with pytest.raises(Problem) as refused:
        await verifier.verify(token)
    assert refused.value.status == 401 and "expired" in str(refused.value.detail)


async def test_the_cache_never_trusts_a_token_it_did_not_verify_and_stays_bounded() -> None:
    minter, forger = TokenMinter(), TokenMinter()
    verifier = TokenVerifier(minter.source, cache_size=2)
    good = minter.mint(**CLAIMS)
    await verifier.verify(good)
    # Same claims, same key id, another key: a different string, verified (and refused) on its own.
    forged = forger.mint(**CLAIMS)
    forged = forged.replace(forged.split(".")[0], good.split(".")[0], 1)
    with pytest.raises(Problem):
        await verifier.verify(forged)
    tokens = [minter.mint(**CLAIMS | {"account_id": f"a{i}"}) for i in range(5)]
    for token in tokens:
        await verifier.verify(token)
    assert len(verifier._verified) == 2
    assert (await verifier.verify(tokens[0])).account_id == "a0"  # evicted, verified again


async def test_a_token_of_an_ended_session_is_refused_even_from_the_cache() -> None:
    minter = TokenMinter()
    revocations = Revocations()
    verifier = TokenVerifier(minter.source, revocations=revocations)
    ended, other = minter.mint(**CLAIMS, session_id="s1"), minter.mint(**CLAIMS, session_id="s2")
    await verifier.verify(ended)  # now in the cache
    await verifier.verify(other)

    revocations.revoke(["s1"], until=time.time() + 900)
    with pytest.raises(Problem) as refused:
        await verifier.verify(ended)
    assert refused.value.status == 401 and "session ended" in str(refused.value.detail)
    with pytest.raises(Problem):
        await verifier.verify(ended)  # verified again: still refused
    assert (await verifier.verify(other)).account_id == "a1"
    # A token that names no session cannot be ended this way; it still expires.
    assert (await verifier.verify(minter.mint(**CLAIMS))).account_id == "a1"


async def test_a_revocation_is_kept_until_the_last_token_of_its_session_expires() -> None:
    now = [1_000_000.0]
    revocations = Revocations(clock=lambda: now[0])
    revocations.revoke(["s1"], until=now[0] + 900)
    revocations.revoke(["s1"], until=now[0] + 600)  # an earlier expiry never shortens it
    now[0] += 899
    assert revocations.is_revoked("s1") and not revocations.is_revoked("s2")
    now[0] += 1
    assert not revocations.is_revoked("s1")
    revocations.revoke(["s3"], until=now[0] + 900)
    assert len(revocations) == 1  # the expired entry is forgotten, not kept


def test_revocations_stay_bounded_and_keep_those_that_expire_last() -> None:
    revocations = Revocations(capacity=3, clock=lambda: 0.0)
    for i in range(5):
        revocations.revoke([f"s{i}"], until=100.0 + i)
    assert len(revocations) == 3
    assert [revocations.is_revoked(f"s{i}") for i in range(5)] == [False, False, True, True, True]
