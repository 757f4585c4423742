"""Idempotency keys: a command retried with the same key answers its first result and acts once."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import hdrs, web
from pydantic import BaseModel
from pydantic.main import IncEx

from libs.common.auth import principal
from libs.common.db import POOL
from libs.common.http import Problem, read_header

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


REPLAYED_HEADERS = (hdrs.LOCATION, hdrs.CONTENT_LOCATION, hdrs.ETAG)
"""Headers of a first result that say something about it: a replay gives them again."""


_JSON_TYPES = ("application/json", "application/problem+json")


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, response: web.StreamResponse) -> StoredResponse:
        """What a replay will answer: the status, the JSON body and the headers that matter."""
        if not isinstance(response, web.Response) or (
            response.body is not None and response.content_type not in _JSON_TYPES
        ):
            raise TypeError("an idempotent route answers JSON (or nothing)")
        raw = response.body
        if raw is not None and not isinstance(raw, bytes):
            raise TypeError("an idempotent route answers a body of bytes")
        body = json.loads(raw) if raw else None
        kept = {str(name): response.headers[name] for name in REPLAYED_HEADERS if name in response.headers}
        if raw and response.content_type != "application/json":
            kept["Content-Type"] = response.content_type  # a problem answered rather than raised
        return cls(response.status, body, kept)

    def to_response(self) -> web.Response:
        headers = {**self.headers, "Idempotent-Replayed": "true"}
        if self.body is None:
            return web.Response(status=self.status, headers=headers)
        content_type = headers.pop("Content-Type", "application/json")
        return web.json_response(self.body, status=self.status, headers=headers, content_type=content_type)


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
        "SELECT request_hash, status, response, headers FROM idempotency_keys WHERE scope = $1 AND key = $2",
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
    body = json.loads(row["response"]) if row["response"] is not None else None
    return StoredResponse(row["status"], body, json.loads(row["headers"] or "{}"))


async def remember(conn: asyncpg.Connection, scope: str, key: str, answer: StoredResponse) -> None:
    """Store the result the key will answer from now on (same transaction as the effect)."""
    await conn.execute(
        "UPDATE idempotency_keys SET status = $3, response = $4::jsonb, headers = $5::jsonb"
        " WHERE scope = $1 AND key = $2",
        scope,
        key,
        answer.status,
        None if answer.body is None else json.dumps(answer.body, default=str),
        json.dumps(dict(answer.headers)),
    )


@dataclass
class _Command:
    """The idempotent command a request runs: the transaction it acts in, and the key it claimed."""

    operation: str  # the route's operation id, then the values of its path parameters
    stack: contextlib.AsyncExitStack
    conn: asyncpg.Connection | None = None
    claimed: tuple[str, str] | None = None  # scope and key


_COMMAND = web.RequestKey("idempotent_command", _Command)


class _Replayed(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__("replayed")
        self.response = response


def idempotent(handler: Handler, path_parameters: Sequence[str] = ()) -> Handler:
    """The handler of a route declared `idempotent`: it acts once per Idempotency-Key.

    The handler does what needs no transaction (reading the body, checks, hashing a password), then
    calls `once(request, asked)`: that claims the key and opens the transaction the command acts
    in. Whatever the handler then answers is stored in that same transaction, so the effect and the
    answer commit together (a crash before commit leaves neither: a retry acts). A retry with the
    same key and the same request answers the stored result; with another request it is refused.
    """
    names = tuple(path_parameters)

    async def once_per_key(request: web.Request) -> web.StreamResponse:
        path = [request.match_info[name] for name in names]
        async with contextlib.AsyncExitStack() as stack:
            command = request[_COMMAND] = _Command(":".join([handler.__name__, *path]), stack)
            try:
                response = await handler(request)
            except _Replayed as replayed:
                return replayed.response
            if command.conn is None:
                raise RuntimeError(f"{handler.__name__} is idempotent but acted outside `idempotency.once`")
            if command.claimed is not None:
                await remember(command.conn, *command.claimed, StoredResponse.of(response))
        return response

    once_per_key.__name__ = handler.__name__
    return once_per_key


async def once(
    request: web.Request, asked: BaseModel, *, exclude: IncEx | None = None, caller: str | None = None
) -> asyncpg.Connection:
    """In an idempotent route: claim the request's Idempotency-Key (if sent) and return the
    connection, in a transaction, that the command acts in. A retry of a request that already has
    its result answers it from here: the handler goes no further.

    `asked` is what the request asks, fingerprinted to refuse a key reused for another request;
    `exclude` keeps secrets such as a password out of it (a fast hash of them could be guessed).
    Keys are per caller and route: `caller` names whose keys they are on a route without a token
    (e.g. the tenant registering to), by default the caller's tenant and account.
    """
    command = request.get(_COMMAND)
    if command is None:
        raise RuntimeError("`idempotency.once` is for routes declared idempotent")
    if command.conn is not None:
        raise RuntimeError("`idempotency.once` is called once per request")
    key = key_of(request)
    if caller is None:
        who = principal(request)
        caller = f"{who.tenant_id}:{who.account_id}"
    conn: asyncpg.Connection = await command.stack.enter_async_context(request.app[POOL].acquire())
    await command.stack.enter_async_context(conn.transaction())
    command.conn = conn
    if key is not None:
        scope = f"{caller}:{command.operation}"
        stored = await claim(conn, scope, key, fingerprint(asked.model_dump(mode="json", exclude=exclude)))
        if stored is not None:
            raise _Replayed(stored.to_response())
        command.claimed = (scope, key)
    return conn
