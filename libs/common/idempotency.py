"""Idempotency keys: a command retried with the same key answers its first result and acts once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import BaseModel
from pydantic.main import IncEx

from libs.common.http import Problem, read_header

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any

    def to_response(self) -> web.Response:
        return web.json_response(self.body, status=self.status, headers={"Idempotent-Replayed": "true"})


def key_of(request: web.Request) -> str | None:
    """The request's Idempotency-Key, checked for length and characters; None when absent."""
    key = read_header(request, HEADER)
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Problem(
            400,
            "Invalid Idempotency-Key",
            type="invalid-idempotency-key",
            detail=f"the key must be 1 to {MAX_KEY_LENGTH} characters",
        )
    return key


def fingerprint(payload: Any) -> str:
    """A stable hash of what was asked, to refuse the same key reused for another request."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


async def claim(conn: asyncpg.Connection, scope: str, key: str, request_hash: str) -> StoredResponse | None:
    """Inside the command's transaction: reserve the key, or return the first result if it had one.

    A concurrent request with the same key waits on the row until the first one commits, then gets
    its stored result. The caller saves its own result with `remember` before committing.
    """
    inserted = await conn.fetchval(
        "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING true",
        scope,
        key,
        request_hash,
    )
    if inserted:
        return None
    row = await conn.fetchrow(
        "SELECT request_hash, status, response FROM idempotency_keys WHERE scope = $1 AND key = $2",
        scope,
        key,
    )
    assert row is not None
    if row["request_hash"] != request_hash:
        raise Problem(
            422,
            "Idempotency-Key reused for another request",
            type="idempotency-key-reused",
            detail="this key was already used with a different request body",
        )
    return StoredResponse(row["status"], json.loads(row["response"]))


async def remember(conn: asyncpg.Connection, scope: str, key: str, status: int, body: Any) -> None:
    """Store the result the key will answer from now on (same transaction as the effect)."""
    await conn.execute(
        "UPDATE idempotency_keys SET status = $3, response = $4::jsonb WHERE scope = $1 AND key = $2",
        scope,
        key,
        status,
        json.dumps(body, default=str),
    )


@dataclass(frozen=True)
class Once:
    """One command's Idempotency-Key (if sent), its scope and a fingerprint of what it asked.

    In the command's transaction: `replay` answers the first result of a retried request (None
    otherwise), `remember` stores this one's result before commit. Without a key both do nothing.
    """

    scope: str
    key: str | None
    fingerprint: str

    @classmethod
    def of(cls, request: web.Request, scope: str, asked: BaseModel, exclude: IncEx | None = None) -> Once:
        """`scope` names the caller and the command (keys are per caller); `exclude` keeps secrets
        such as a password out of the stored fingerprint (a fast hash of them could be guessed)."""
        payload = asked.model_dump(mode="json", exclude=exclude)
        return cls(scope, key_of(request), fingerprint(payload))

    async def replay(self, conn: asyncpg.Connection) -> web.Response | None:
        if self.key is None:
            return None
        stored = await claim(conn, self.scope, self.key, self.fingerprint)
        return stored.to_response() if stored else None

    async def remember(self, conn: asyncpg.Connection, status: int, body: BaseModel) -> None:
        if self.key is not None:
            await remember(conn, self.scope, self.key, status, body.model_dump(mode="json"))
