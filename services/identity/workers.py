"""Identity's background workers (the worker role): the inactivity sweep and the rotation of signing
keys. Each is `async def (pool, stopping, *, ...)`, its settings bound by the composition root."""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from libs.common.runtime import every
from services.identity import commands, signing, signups
from services.identity.policy import Policy

log = structlog.get_logger(__name__)


async def sweep_inactive_accounts(
    pool: asyncpg.Pool, stopping: asyncio.Event, *, policy: Policy, interval_s: float
) -> None:
    """Delete the accounts past their tenant's inactivity delays, and the merchants' sign-ups never
    confirmed once their link expired: at start, then every interval."""

    async def sweep() -> None:
        if deleted := await commands.sweep_inactive_accounts(pool, policy):
            log.info("inactive accounts deleted", count=deleted)
        if forgotten := await signups.sweep(pool, policy.clock()):
            log.info("expired sign-ups deleted", count=forgotten)

    await every(stopping, interval_s, "inactivity sweep", sweep)


async def rotate_signing_keys(
    pool: asyncpg.Pool, stopping: asyncio.Event, *, policy: Policy, interval_s: float
) -> None:
    """Start a rotation of the signing key once it is older than the rotation period: at start, then
    every interval. Signing never waits for it: a due key goes on signing until the next one takes
    over. Safe with several replicas (`signing.rotate_if_due` decides under a lock)."""

    async def rotate() -> None:
        if rotation := await signing.rotate_if_due(pool, policy):
            log.info(
                "signing key rotation started", kid=rotation.kid, signs_from=rotation.signs_from.isoformat()
            )

    await every(stopping, interval_s, "key rotation", rotate)
