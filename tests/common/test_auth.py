"""Token verification: what a verified-token cache must never change."""

from __future__ import annotations

import asyncio

import pytest

from libs.common.auth import TokenVerifier
from libs.common.http import Problem
from libs.common.testing import TokenMinter

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
