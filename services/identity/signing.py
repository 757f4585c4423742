"""Token signing keys: Ed25519 keys kept in identity's database, their public JWKS, and signing."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from libs.common.auth import ALGORITHM
from services.identity import store


@dataclass(frozen=True)
class SigningKey:
    """One Ed25519 key pair and its key id (the `kid` of the tokens it signs)."""

    kid: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(kid=uuid.uuid4().hex, private_key=Ed25519PrivateKey.generate())

    @classmethod
    def from_stored(cls, stored: store.StoredKey) -> SigningKey:
        key = serialization.load_pem_private_key(stored.private_pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"signing key {stored.kid} is not an Ed25519 key")
        return cls(kid=stored.kid, private_key=key)

    def to_stored(self) -> store.StoredKey:
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return store.StoredKey(kid=self.kid, private_pem=pem.decode())

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


def _new_stored_key() -> store.StoredKey:
    return SigningKey.generate().to_stored()


async def current_key(pool: asyncpg.Pool) -> SigningKey:
    """The key that signs new tokens: the newest active one, created on first use."""
    return SigningKey.from_stored(await store.active_signing_key(pool, _new_stored_key))


async def all_keys(pool: asyncpg.Pool) -> list[SigningKey]:
    """Every key whose tokens must still verify; never empty (the first key is created if need be)."""
    await current_key(pool)
    return [SigningKey.from_stored(stored) for stored in await store.signing_keys(pool)]
