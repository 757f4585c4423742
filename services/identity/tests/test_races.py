"""Races between requests and replicas: each needs connections of its own, so these run on the full
tier (a running identity on a stack); the rest of each behaviour is tested on the fast tier."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from libs.devstack.testing import Isolated
from services.identity import commands, signing
from services.identity.tests.conftest import Identity
from services.identity.tests.credentials_support import Credentials, add_account, add_tenant, identity_running
from services.identity.tests.test_inactivity import policy, remaining
from services.identity.tests.test_keys import jwks_kids
from services.identity.tests.test_sessions import WRONG


@pytest.fixture
async def ident(isolated: Isolated, pool: asyncpg.Pool) -> AsyncIterator[Credentials]:
    async with identity_running(isolated, pool) as running:
        yield running


@pytest.fixture
def identity(running_identity: Identity) -> Identity:
    return running_identity


async def test_two_sweeps_at_once_delete_each_account_once(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    await identity.settings(admin, delete_without_order_days=30)
    accounts = [await identity.registered(tenant, f"p{i}@example.test", password=None) for i in range(24)]
    later = policy(days_later=31, batch=5)
    counts = await asyncio.gather(
        commands.sweep_inactive_accounts(identity.db, later),
        commands.sweep_inactive_accounts(identity.db, later),
    )
    assert sum(counts) == 24
    deleted = await identity.db.fetchval(
        "SELECT count(*) FROM outbox"
        " WHERE convert_from(payload, 'UTF8')::jsonb ->> 'type' = 'identity.account.deleted'"
    )
    assert deleted == 24 and await remaining(identity, tenant) == {f"admin@{tenant}.test"}
    del accounts


async def test_replicas_starting_together_create_one_signing_key(ident: Credentials) -> None:
    keys = await asyncio.gather(*(signing.current_key(ident.db, ident.policy) for _ in range(5)))
    assert len({key.kid for key in keys}) == 1
    assert await ident.db.fetchval("SELECT count(*) FROM signing_keys") == 1
    assert await jwks_kids(ident) == {keys[0].kid}


async def test_replicas_checking_at_once_rotate_once(ident: Credentials) -> None:
    await signing.current_key(ident.db, ident.policy)
    ident.clock.advance(ident.policy.key_rotation)
    rotations = await asyncio.gather(*(signing.rotate_if_due(ident.db, ident.policy) for _ in range(4)))
    assert len([r for r in rotations if r is not None]) == 1
    assert await ident.db.fetchval("SELECT count(*) FROM signing_keys") == 2


async def test_parallel_wrong_guesses_lock_at_the_threshold_and_count_no_further(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db, lockout_threshold=3)
    account_id = await add_account(ident.db, tenant, "claire@pharmacie.test")
    answers = await asyncio.gather(*(ident.log_in(tenant, "claire@pharmacie.test", WRONG) for _ in range(6)))
    assert {status for status, _ in answers} <= {401, 423}
    assert sum(status == 401 for status, _ in answers) <= 2
    [(failures, locked_at)] = (await ident.failures(account_id)).values()
    assert failures == 3 and locked_at is not None


async def test_two_refreshes_with_one_token_at_once_let_exactly_one_win(ident: Credentials) -> None:
    tenant = await add_tenant(ident.db)
    await add_account(ident.db, tenant, "claire@pharmacie.test")
    session = await ident.session(tenant, "claire@pharmacie.test")

    answers = await asyncio.gather(*(ident.refresh(session["refresh_token"]) for _ in range(2)))
    assert sorted(status for status, _ in answers) == [200, 401]
    # The loser presented a used token: a reuse, which ends the family, the winner's new token too.
    winner = next(body for status, body in answers if status == 200)
    assert (await ident.refresh(winner["refresh_token"]))[0] == 401
    family = await ident.db.fetch("SELECT used_at, revoked_at FROM refresh_tokens")
    assert len(family) == 2 and all(row["revoked_at"] is not None for row in family)
