"""Portal sessions: identity's tokens kept server-side behind an opaque cookie, refreshed one request
at a time per session, so that two tabs never present the same refresh token twice."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import asyncpg
import jwt
from aiohttp import web

from libs.common.clock import utc_now
from services.portal.gateway import Gateway

COOKIE = "comptoir_session"
REFRESH_MARGIN = timedelta(seconds=60)
"""An access token this close to its end is refreshed before use: it must outlive the request."""

_COLUMNS = """session_key, tenant_id, account_id::text, locale, access_token,
    access_expires_at, refresh_token, refresh_expires_at, csrf_token"""
SELECT_SESSION = f"SELECT {_COLUMNS} FROM sessions WHERE session_key = $1"
SELECT_SESSION_FOR_UPDATE = SELECT_SESSION + " FOR UPDATE"
INSERT_SESSION = """
INSERT INTO sessions (session_key, tenant_id, account_id, locale, access_token,
    access_expires_at, refresh_token, refresh_expires_at, csrf_token)
VALUES ($1, $2, $3::uuid, $4, $5, $6, $7, $8, $9)
"""
UPDATE_TOKENS = """
UPDATE sessions SET access_token = $2, access_expires_at = $3, refresh_token = $4, refresh_expires_at = $5
WHERE session_key = $1
"""
UPDATE_LOCALE = "UPDATE sessions SET locale = $2 WHERE session_key = $1"
DELETE_SESSION = "DELETE FROM sessions WHERE session_key = $1"
DELETE_ACCOUNT_SESSIONS = "DELETE FROM sessions WHERE tenant_id = $1 AND account_id = $2::uuid"
DELETE_ENDED = "DELETE FROM sessions WHERE refresh_expires_at < $1"


@dataclass(frozen=True)
class Tokens:
    """What identity's POST /sessions and /sessions/refresh answer."""

    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime

    @classmethod
    def of(cls, answer: dict[str, Any], now: datetime) -> Tokens:
        return cls(
            access_token=answer["access_token"],
            access_expires_at=now + timedelta(seconds=answer["expires_in"]),
            refresh_token=answer["refresh_token"],
            refresh_expires_at=now + timedelta(seconds=answer["refresh_expires_in"]),
        )


@dataclass(frozen=True)
class PortalSession:
    session_key: bytes
    tenant_id: str
    account_id: str
    locale: str
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    csrf_token: str

    @cached_property
    def claims(self) -> dict[str, Any]:
        """The access token's claims, read to shape pages (the API checks the token, not the portal)."""
        return dict(jwt.decode(self.access_token, options={"verify_signature": False}))

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(self.claims.get("roles", ()))

    @property
    def organisation_id(self) -> str | None:
        return self.claims.get("org")


def digest(cookie_value: str) -> bytes:
    return hashlib.sha256(cookie_value.encode()).digest()


class SessionStore:
    """The sessions of the portal's schema and the one place that refreshes their tokens."""

    def __init__(self, pool: asyncpg.Pool, gateway: Gateway) -> None:
        self.pool = pool
        self.gateway = gateway

    async def open(self, tenant_id: str, tokens: Tokens, locale: str, now: datetime) -> str:
        """A new session for the tokens of a sign-in; the value of its cookie."""
        cookie_value = secrets.token_urlsafe(32)
        claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
        row = (
            digest(cookie_value),
            tenant_id,
            str(claims["sub"]),
            locale,
            tokens.access_token,
            tokens.access_expires_at,
            tokens.refresh_token,
            tokens.refresh_expires_at,
            secrets.token_urlsafe(32),
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(DELETE_ENDED, now)
            await conn.execute(INSERT_SESSION, *row)
        return cookie_value

    async def current(self, request: web.Request, cookie_value: str) -> PortalSession | None:
        """The cookie's session with an access token good for this request, or None when it ended."""
        now = utc_now()
        record = await self.pool.fetchrow(SELECT_SESSION, digest(cookie_value))
        if record is None:
            return None
        session = PortalSession(*record)
        if session.refresh_expires_at <= now:
            await self.pool.execute(DELETE_SESSION, session.session_key)
            return None
        if session.access_expires_at - now > REFRESH_MARGIN:
            return session
        return await self._refresh(request, session.session_key)

    async def _refresh(self, request: web.Request, key: bytes) -> PortalSession | None:
        # The row lock makes concurrent requests of one session (tabs, parallel loads, several portal
        # processes) refresh once: the others wait, then find the new token and use it.
        async with self.pool.acquire() as conn, conn.transaction():
            record = await conn.fetchrow(SELECT_SESSION_FOR_UPDATE, key)
            if record is None:
                return None
            session = PortalSession(*record)
            now = utc_now()
            if session.access_expires_at - now > REFRESH_MARGIN:
                return session
            answer = await self.gateway.call(
                request, "POST", "/identity/sessions/refresh", json={"refresh_token": session.refresh_token}
            )
            if not answer.ok:  # ended elsewhere: signed out of all devices, closed, expired
                await conn.execute(DELETE_SESSION, key)
                return None
            tokens = Tokens.of(answer.body, now)
            await conn.execute(
                UPDATE_TOKENS,
                key,
                tokens.access_token,
                tokens.access_expires_at,
                tokens.refresh_token,
                tokens.refresh_expires_at,
            )
            return dataclasses.replace(
                session,
                access_token=tokens.access_token,
                access_expires_at=tokens.access_expires_at,
                refresh_token=tokens.refresh_token,
                refresh_expires_at=tokens.refresh_expires_at,
            )

    async def remember_locale(self, session: PortalSession, locale: str) -> None:
        await self.pool.execute(UPDATE_LOCALE, session.session_key, locale)

    async def forget(self, session: PortalSession) -> None:
        await self.pool.execute(DELETE_SESSION, session.session_key)

    async def forget_account(self, session: PortalSession) -> None:
        """Every session of the account in this portal (after "sign out of all devices")."""
        await self.pool.execute(DELETE_ACCOUNT_SESSIONS, session.tenant_id, session.account_id)
