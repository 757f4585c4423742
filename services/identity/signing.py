"""Token signing keys: Ed25519 keys kept in identity's database, their rotation, the JWKS, and signing.

A key's life: published `PREPUBLICATION` before it signs; signs until the next key takes over (the
rotation sets its `retired_at` to that moment); stays published until every token it signed has
expired (`published_until`), then is deleted. Other services verify tokens with the JWKS and refetch
it when they meet an unknown kid, at most every few seconds (libs.common.auth.TokenVerifier): a key
published before it signs is known to them, or fetchable, by the time its first token reaches them.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from libs.common.auth import ALGORITHM
from services.identity import session_store
from services.identity.policy import Policy
from services.identity.session_store import StoredKey

PREPUBLICATION = timedelta(seconds=15)
"""How long a new key is published before it signs: three times TokenVerifier's 5 s refetch limit."""
PUBLICATION_MARGIN = timedelta(minutes=1)
"""Kept published this much longer than its last token lives: replicas' clocks differ a little."""


@dataclass(frozen=True)
class SigningKey:
    """One Ed25519 key pair and its key id (the `kid` of the tokens it signs)."""

    kid: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(kid=uuid.uuid4().hex, private_key=Ed25519PrivateKey.generate())

    @classmethod
    def from_stored(cls, stored: StoredKey) -> SigningKey:
        key = serialization.load_pem_private_key(stored.private_pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"signing key {stored.kid} is not an Ed25519 key")
        return cls(kid=stored.kid, private_key=key)

    def private_pem(self) -> str:
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return pem.decode()

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, str]:
        """The public half as a JSON Web Key (RFC 8037)."""
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {"kty": "OKP", "crv": "Ed25519", "alg": ALGORITHM, "use": "sig", "kid": self.kid, "x": x}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})


@dataclass(frozen=True)
class Rotation:
    """A rotation: the new key and when it starts signing; the keys it retires then, published until."""

    kid: str
    signs_from: datetime
    retired: list[str]
    published_until: datetime | None


# --- pure rules over the stored keys ---


def signer(keys: Sequence[StoredKey], now: datetime) -> StoredKey | None:
    """The key that signs at `now`: the newest one that has started and is not retired yet."""
    signing = [k for k in keys if k.signs_from <= now and (k.retired_at is None or k.retired_at > now)]
    return max(signing, key=lambda k: (k.signs_from, k.kid), default=None)


def pending(keys: Sequence[StoredKey], now: datetime) -> StoredKey | None:
    """A key published but not signing yet (a rotation under way)."""
    waiting = [k for k in keys if k.signs_from > now and k.retired_at is None]
    return max(waiting, key=lambda k: (k.signs_from, k.kid), default=None)


def rotation_due(keys: Sequence[StoredKey], now: datetime, every: timedelta) -> bool:
    current = signer(keys, now)
    return current is not None and pending(keys, now) is None and now - current.signs_from >= every


def published(keys: Sequence[StoredKey], now: datetime) -> list[StoredKey]:
    """The keys of the JWKS: every key whose tokens may still be valid, and the next one."""
    return [k for k in keys if k.published_until is None or k.published_until > now]


# --- use cases ---


async def _add_first_key(conn: asyncpg.Connection, now: datetime) -> SigningKey:
    key = SigningKey.generate()
    await session_store.add_signing_key(conn, key.kid, key.private_pem(), created_at=now, signs_from=now)
    return key


async def _rotate(
    conn: asyncpg.Connection, keys: Sequence[StoredKey], now: datetime, token_ttl: timedelta
) -> Rotation:
    """Publish a new key now, and retire every current key at the moment it starts signing."""
    new = SigningKey.generate()
    takeover = now + PREPUBLICATION
    await session_store.add_signing_key(conn, new.kid, new.private_pem(), created_at=now, signs_from=takeover)
    retiring = [k.kid for k in keys if k.retired_at is None and k.signs_from <= now]
    until = takeover + token_ttl + PUBLICATION_MARGIN
    for kid in retiring:
        await session_store.retire_signing_key(conn, kid, takeover, until)
    await session_store.drop_signing_keys(conn, now)
    return Rotation(new.kid, takeover, retiring, until if retiring else None)


async def current_key(pool: asyncpg.Pool, policy: Policy | None = None) -> SigningKey:
    """The key that signs new tokens, created on first use (once for all replicas). Reading it never
    rotates: the key rotation worker does (`rotate_if_due`)."""
    now = policy.clock() if policy else datetime.now(UTC)
    current = signer(await session_store.signing_keys(pool), now)
    if current is not None:
        return SigningKey.from_stored(current)
    async with pool.acquire() as conn, conn.transaction():
        await session_store.lock_signing_keys(conn)
        # Another replica may have done it while we waited for the lock, with a later clock reading
        # than ours: read the clock again, or its first key would not sign yet at our `now`.
        now = policy.clock() if policy else datetime.now(UTC)
        current = signer(await session_store.signing_keys(conn), now)
        if current is None:
            return await _add_first_key(conn, now)
        return SigningKey.from_stored(current)


async def rotate_if_due(pool: asyncpg.Pool, policy: Policy) -> Rotation | None:
    """Start a rotation when the signing key is older than `policy.key_rotation` (the key rotation
    worker's step): the due key goes on signing until the new one takes over, `PREPUBLICATION`
    later. Decided under the key table's lock, so that replicas checking at once rotate once."""
    if not rotation_due(await session_store.signing_keys(pool), policy.clock(), policy.key_rotation):
        return None
    async with pool.acquire() as conn, conn.transaction():
        await session_store.lock_signing_keys(conn)
        now = policy.clock()
        keys = await session_store.signing_keys(conn)
        if not rotation_due(keys, now, policy.key_rotation):
            return None
        return await _rotate(conn, keys, now, policy.access_token_ttl)


async def rotate(pool: asyncpg.Pool, policy: Policy) -> Rotation:
    """Rotate now (on demand). A rotation already under way is answered rather than started again:
    two calls in a row must not retire a key that never signed."""
    now = policy.clock()
    async with pool.acquire() as conn, conn.transaction():
        await session_store.lock_signing_keys(conn)
        keys = await session_store.signing_keys(conn)
        waiting = pending(keys, now)
        if waiting is not None:
            retired = [k for k in keys if k.retired_at == waiting.signs_from]
            until = max((k.published_until for k in retired if k.published_until), default=None)
            return Rotation(waiting.kid, waiting.signs_from, [k.kid for k in retired], until)
        if signer(keys, now) is None:
            first = await _add_first_key(conn, now)
            return Rotation(first.kid, now, [], None)
        return await _rotate(conn, keys, now, policy.access_token_ttl)


async def all_keys(pool: asyncpg.Pool, now: datetime | None = None) -> list[SigningKey]:
    """The key set (JWKS) at `now`: never empty (the first key is created if need be)."""
    keys = await session_store.signing_keys(pool)
    if not keys:
        await current_key(pool)
        keys = await session_store.signing_keys(pool)
    return [SigningKey.from_stored(k) for k in published(keys, now or datetime.now(UTC))]
