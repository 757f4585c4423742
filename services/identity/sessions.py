"""Identity's session use cases: log in."""

from __future__ import annotations

import asyncpg

from libs.common.http import Problem
from services.identity import passwords, signing, store
from services.identity.commands import Policy
from services.identity.domain import access_claims


async def open_session(pool: asyncpg.Pool, policy: Policy, tenant_id: str, email: str, password: str) -> str:
    """An access token for the account these credentials prove.

    An unknown email and a wrong password get the same answer, after the same hashing work, so that
    nobody can learn who has an account. Whether an account is activated is told only to its owner.
    """
    account = await store.account_by_email(pool, tenant_id, email)
    matches = await passwords.verify_password(account.password_hash if account else None, password)
    if account is None or not matches:
        # One answer for both cases: which of the two it was is exactly what must not leak.
        raise Problem(
            401,
            "Invalid credentials",
            type="invalid-credentials",
            detail="the email or the password is wrong",
        )
    if account.status != "active":
        raise Problem(
            403,
            "Account not activated",
            type="account-not-activated",
            detail="follow the link of the activation email first",
        )
    key = await signing.current_key(pool)
    return key.sign(access_claims(account, policy.clock(), policy.access_token_ttl))
