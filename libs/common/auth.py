"""Access tokens: every service verifies identity's JWTs locally, with the key set identity publishes."""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import structlog
from aiohttp import web

from libs.common.http import Problem

log = structlog.get_logger(__name__)

ISSUER = "comptoir-identity"
AUDIENCE = "comptoir"
ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class Principal:
    """Who calls: taken from a verified token, never from the request body."""

    account_id: str
    tenant_id: str
    roles: frozenset[str]
    organisation_id: str | None = None

    def has_role(self, *names: str) -> bool:
        return bool(self.roles & set(names))


PRINCIPAL = web.RequestKey("principal", Principal)

KeySource = Callable[[], Awaitable[Mapping[str, Any]]]
"""Returns the current public keys by key id (`kid`)."""


def _invalid(detail: str) -> Problem:
    return Problem(
        401, "Invalid token", type="invalid-token", detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


class Revocations:
    """Sessions that ended while their access tokens still live: a verifier refuses those tokens.

    A token names its session in the `sid` claim. Each entry is kept until the last access token of
    its session has expired (`until`, seconds since the epoch), then forgotten: a token past its
    expiry is refused anyway. Bounded: beyond `capacity` entries, those that expire soonest go first,
    with a warning, so that a flood of logouts costs bounded memory.
    """

    def __init__(self, capacity: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self._until: dict[str, float] = {}
        self._expiries: list[tuple[float, str]] = []  # a heap; stale pairs are skipped when popped
        self._capacity = capacity
        self._clock = clock

    def revoke(self, session_ids: Iterable[str], until: float) -> None:
        """Refuse the tokens of these sessions until `until` (when their last token expires)."""
        self._forget(self._clock())
        for session_id in session_ids:
            if until > self._until.get(session_id, float("-inf")):
                self._until[session_id] = until
                heapq.heappush(self._expiries, (until, session_id))
        evicted = 0
        while len(self._until) > self._capacity:
            evicted += self._pop()
        if evicted:
            log.warning("session revocations over capacity: the soonest to expire forgotten", evicted=evicted)

    def is_revoked(self, session_id: str | None) -> bool:
        return session_id is not None and self._until.get(session_id, float("-inf")) > self._clock()

    def __len__(self) -> int:
        return len(self._until)

    def _forget(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            self._pop()

    def _pop(self) -> int:
        until, session_id = heapq.heappop(self._expiries)
        if self._until.get(session_id) != until:
            return 0  # revoked again later, with a later expiry: that pair is still in the heap
        del self._until[session_id]
        return 1


class TokenVerifier:
    """Verifies EdDSA access tokens; refetches the key set when it meets an unknown key id (at most
    once per `min_refresh` seconds, so that a flood of forged kids cannot hammer identity). A token
    of a session in `revocations` is refused, from the cache too."""

    def __init__(
        self,
        source: KeySource,
        *,
        revocations: Revocations | None = None,
        min_refresh: float = 5.0,
        cache_size: int = 4096,
    ) -> None:
        self._source = source
        self.revocations = revocations if revocations is not None else Revocations()
        self._keys: Mapping[str, Any] = {}
        self._fetched_at = float("-inf")
        self._min_refresh = min_refresh
        self._lock = asyncio.Lock()
        # Tokens already verified, with their expiry: a client sends the same token for 15 minutes,
        # and an Ed25519 check costs more than the rest of a cheap read (measured with py-spy).
        self._verified: OrderedDict[str, tuple[float, Principal, str | None]] = OrderedDict()
        self._cache_size = cache_size

    async def _key(self, kid: str) -> Any:
        if kid not in self._keys:
            async with self._lock:
                if kid not in self._keys and time.monotonic() - self._fetched_at >= self._min_refresh:
                    self._fetched_at = time.monotonic()
                    try:
                        self._keys = await self._source()
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        raise Problem(
                            503,
                            "Key set unavailable",
                            type="key-set-unavailable",
                            detail="the token signing keys could not be fetched",
                        ) from exc
        if kid not in self._keys:
            raise _invalid("unknown signing key")
        return self._keys[kid]

    async def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            expires, principal, session_id = cached
            if time.time() < expires and not self.revocations.is_revoked(session_id):
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        principal, expires, session_id = await self._verify(token)
        if self.revocations.is_revoked(session_id):
            raise _invalid("session ended: log in again")
        self._verified[token] = (expires, principal, session_id)
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float, str | None]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise _invalid("malformed token") from exc
        if not isinstance(kid, str):
            raise _invalid("token without key id")
        key = await self._key(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "sub", "tid", "roles"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise _invalid("token expired") from exc
        except jwt.PyJWTError as exc:
            raise _invalid("token rejected") from exc
        principal = Principal(
            account_id=str(claims["sub"]),
            tenant_id=str(claims["tid"]),
            roles=frozenset(claims["roles"]),
            organisation_id=claims.get("org"),
        )
        session_id = claims.get("sid")
        return principal, float(claims["exp"]), session_id if isinstance(session_id, str) else None


def jwks_source(url: str, session: aiohttp.ClientSession, timeout: float = 3.0) -> KeySource:
    """Fetch a JSON Web Key Set over HTTP (identity's `/.well-known/jwks.json`)."""

    async def fetch() -> Mapping[str, Any]:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            resp.raise_for_status()
            document = await resp.json()
        return keys_from_jwks(document)

    return fetch


def keys_from_jwks(document: Mapping[str, Any]) -> dict[str, Any]:
    """Public keys by kid from a JWKS document."""
    return {jwk["kid"]: jwt.PyJWK(jwk, algorithm=ALGORITHM).key for jwk in document.get("keys", [])}


def principal(request: web.Request) -> Principal:
    """The verified caller of a guarded endpoint."""
    return request[PRINCIPAL]
