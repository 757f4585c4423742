"""Identity's rate limits per client address: sign-ins, registrations, messages sent (activation
resends, recovery codes) and one-time codes typed. Per account, the limits are the stored ones: the
delay and per-source lock of failed sign-ins (`sessions`), the intervals between messages to one
account, the attempts a code allows."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from libs.common.http import client_address
from libs.common.ratelimit import Rate, RateLimiter, too_many_requests

Action = Literal["sign_in", "registration", "message", "code"]

_WHAT: dict[Action, str] = {
    "sign_in": "too many sign-ins from this address",
    "registration": "too many registrations from this address",
    "message": "too many messages asked for from this address",
    "code": "too many codes typed from this address",
}


@dataclass(frozen=True)
class Limits:
    """One limiter per kind of action, keyed by source."""

    sign_in: RateLimiter
    registration: RateLimiter
    message: RateLimiter
    code: RateLimiter

    @classmethod
    def of(cls, sign_in: Rate, registration: Rate, message: Rate, code: Rate) -> Limits:
        return cls(RateLimiter(sign_in), RateLimiter(registration), RateLimiter(message), RateLimiter(code))


LIMITS = web.AppKey("identity_limits", Limits)


def source_of(address: str) -> str:
    """What limits and locks count by: the client's address, or for IPv6 its /64 (one subscriber
    commonly holds a whole /64, so single addresses in it would be free for the taking)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def source(request: web.Request) -> str:
    """The caller's source: what limits and failed sign-ins count by."""
    return source_of(client_address(request))


def limit(request: web.Request, action: Action) -> str:
    """Spend one of the caller's `action`s or raise a 429 with `Retry-After`; returns the source.
    Every route that signs someone in (a password, and any later kind of sign-in) limits "sign_in"."""
    caller = source(request)
    limiter: RateLimiter = getattr(request.app[LIMITS], action)
    wait = limiter.hit(caller)
    if wait > 0:
        raise too_many_requests(wait, _WHAT[action] + "; try again later")
    return caller
