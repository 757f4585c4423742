"""The portal's client of the public API: the gateway's `/api/<service>/...` routes, called with the
signed-in user's token and the browser's address, as any other frontend would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from libs.common.http import CORRELATION_ID, REQUEST_ID, client_address

log = structlog.get_logger(__name__)

PASSED_HEADERS = ("Accept-Language", "User-Agent")


class Unavailable(Exception):
    """The API could not answer (unreachable, timed out, or a 5xx): the page says to try again."""


@dataclass(frozen=True)
class Answer:
    """What the API answered: its status, its JSON body (None when it sent none) and headers."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def problem_type(self) -> str:
        """The problem's stable slug (`account-locked`), '' when the answer is no problem."""
        kind = self.body.get("type", "") if isinstance(self.body, dict) else ""
        return str(kind).removeprefix("urn:comptoir:problem:")


@dataclass(frozen=True)
class Download:
    """A file the API sent: what to pass on to the browser."""

    status: int
    body: bytes
    headers: Mapping[str, str]


class Gateway:
    """One connection pool to the gateway for the portal's whole process."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, connect=2)
        self._client: aiohttp.ClientSession | None = None

    async def lifetime(self, app: web.Application) -> AsyncIterator[None]:
        self._client = aiohttp.ClientSession(timeout=self.timeout)
        yield
        await self._client.close()

    def _headers(self, request: web.Request, token: str | None, extra: Mapping[str, str]) -> dict[str, str]:
        headers = {name: request.headers[name] for name in PASSED_HEADERS if name in request.headers}
        # The gateway trusts the portal's network: it limits and locks by the browser's address.
        headers["X-Forwarded-For"] = client_address(request)
        headers["X-Request-Id"] = request[REQUEST_ID]
        headers["X-Correlation-Id"] = request[CORRELATION_ID]
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers | dict(extra)

    async def call(
        self,
        request: web.Request,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """`path` is under /api (e.g. `/catalog/products`). 5xx and network failures raise Unavailable."""
        assert self._client is not None, "used before the app started"
        try:
            async with self._client.request(
                method,
                f"{self.base_url}/api{path}",
                json=json,
                data=data,
                params=params,
                headers=self._headers(request, token, headers or {}),
                allow_redirects=False,
            ) as resp:
                body = await resp.json() if resp.content_type.endswith("json") else None
                if resp.status >= 500:
                    log.warning("api failed", path=path, status=resp.status, problem=body)
                    raise Unavailable(f"{method} {path} → {resp.status}")
                return Answer(resp.status, body, dict(resp.headers))
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("api unreachable", path=path, error=repr(exc))
            raise Unavailable(f"{method} {path}: {exc!r}") from exc

    async def download(self, request: web.Request, path: str, *, token: str) -> Download:
        """A file of the API (a document, a price list), to hand to the browser as it is."""
        assert self._client is not None, "used before the app started"
        try:
            async with self._client.get(
                f"{self.base_url}/api{path}", headers=self._headers(request, token, {})
            ) as resp:
                if resp.status >= 500:
                    raise Unavailable(f"GET {path} → {resp.status}")
                kept = ("Content-Type", "Content-Disposition", "Last-Modified", "ETag")
                return Download(
                    resp.status, await resp.read(), {k: resp.headers[k] for k in kept if k in resp.headers}
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"GET {path}: {exc!r}") from exc
