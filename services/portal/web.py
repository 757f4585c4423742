"""The portal's request plumbing: who is signed in, the language, CSRF, the security headers, the
pages rendered for refusals and outages, and calling the API as the signed-in user."""

from __future__ import annotations

import hmac
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from babel.support import NullTranslations

from libs.common.http import from_trusted_proxy
from services.portal import i18n
from services.portal.gateway import Answer, Gateway, Unavailable
from services.portal.sessions import COOKIE, PortalSession, SessionStore

log = structlog.get_logger(__name__)

CSRF_COOKIE = "comptoir_csrf"
LANG_COOKIE = "comptoir_lang"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"


def content_security_policy(payment_pages: str) -> str:
    """The portal's policy: everything from itself; a form may also lead to the payment provider's
    pages (`payment_pages`, an origin), where a top-up sends the buyer."""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"form-action 'self' {payment_pages}".strip(),
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        )
    )


TENANT_CACHE_S = 60.0


class SignInNeeded(Exception):
    """The page is private and nobody is signed in (or the session ended)."""


class PageNotFound(Exception):
    """No such page for this user: unknown, of another tenant, or beyond the user's reach."""


class PageForbidden(Exception):
    """The page exists but the user's role does not open it."""


@dataclass(frozen=True)
class Tenant:
    """What the portal knows of a tenant, from identity's public tenant route."""

    tenant_id: str
    name: str
    time_zone: str
    login_identifiers: tuple[str, ...]
    password_min_length: int
    password_classes: tuple[str, ...]


class TenantDirectory:
    """Tenants by id, read from the API and kept a minute (a change of time zone shows within it)."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[float, Tenant | None]] = {}

    async def find(self, request: web.Request, tenant_id: str) -> Tenant | None:
        cached = self._known.get(tenant_id)
        if cached is not None and time.monotonic() - cached[0] < TENANT_CACHE_S:
            return cached[1]
        answer = await request.app[GATEWAY].call(
            request, "GET", f"/identity/tenants/{quote(tenant_id, safe='')}"
        )
        tenant = None
        if answer.ok:
            body = answer.body
            tenant = Tenant(
                tenant_id=body["tenant_id"],
                name=body["name"],
                time_zone=body["time_zone"],
                login_identifiers=tuple(body["login_identifiers"]),
                password_min_length=body["password_min_length"],
                password_classes=tuple(body["password_classes"]),
            )
        self._known[tenant_id] = (time.monotonic(), tenant)
        return tenant


GATEWAY = web.AppKey("gateway", Gateway)
PUBLIC_URL = web.AppKey("public_url", str)
POLICY = web.AppKey("content_security_policy", str)
"""Where browsers reach the portal (through the gateway): the payment provider sends buyers back there."""
SESSIONS = web.AppKey("sessions", SessionStore)
TRANSLATIONS: web.AppKey[Mapping[str, NullTranslations]] = web.AppKey("translations")
TENANTS = web.AppKey("tenants", TenantDirectory)
SESSION: web.RequestKey[PortalSession | None] = web.RequestKey("session")
CSRF = web.RequestKey("csrf", str)
LOCALE = web.RequestKey("locale", str)
TENANT: web.RequestKey[Tenant | None] = web.RequestKey("tenant")


def signed_in(request: web.Request, *roles: str) -> PortalSession:
    """The signed-in user of this page's tenant, holding one of `roles` when some are named."""
    session = request[SESSION]
    if session is None:
        raise SignInNeeded
    if session.tenant_id != request.match_info.get("tenant"):
        raise PageNotFound
    if roles and not session.roles & set(roles):
        raise PageForbidden
    return session


def tenant_of(request: web.Request) -> Tenant:
    tenant = request[TENANT]
    if tenant is None:
        raise PageNotFound
    return tenant


async def api(request: web.Request, method: str, path: str, **kwargs: Any) -> Answer:
    """Call the API as the signed-in user; a token refused mid-way (signed out elsewhere) signs out."""
    session = request[SESSION]
    answer = await request.app[GATEWAY].call(
        request, method, path, token=session.access_token if session else None, **kwargs
    )
    if answer.status == 401 and session is not None:
        await request.app[SESSIONS].forget(session)
        raise SignInNeeded
    return answer


def link(request: web.Request, path: str = "") -> str:
    """A path of this tenant's portal: `link(request, "orders")` → `/brand/orders`."""
    return (
        f"/{request.match_info['tenant']}/{path}".rstrip("/") if path else f"/{request.match_info['tenant']}/"
    )


def redirect(location: str) -> web.Response:
    """Post/Redirect/Get: a 303 to `location`, a path of the portal."""
    return web.Response(status=303, headers={"Location": location})


def render(
    request: web.Request, template: str, context: Mapping[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    session = request[SESSION]
    tenant = request.get(TENANT)
    base = {
        "session": session if session and tenant and session.tenant_id == tenant.tenant_id else None,
        "tenant": tenant,
        "csrf": request[CSRF],
        "csrf_field": CSRF_FIELD,
        "locale": request[LOCALE],
        "locales": i18n.LOCALES,
        "path": request.path,
        "query": request.query_string,
        "notice": request.query.get("notice"),
        "time_zone": tenant.time_zone if tenant else "UTC",
    }
    return aiohttp_jinja2.render_template(template, request, base | dict(context or {}), status=status)


async def form_of(request: web.Request) -> Mapping[str, Any]:
    """The posted form (CSRF already checked by the middleware)."""
    return await request.post()


def form_text(form: Mapping[str, Any], name: str) -> str:
    """A field of a form as typed, without surrounding spaces ('' when absent)."""
    return str(form.get(name, "")).strip()


def form_optional(form: Mapping[str, Any], name: str) -> str | None:
    """A field of a form, None when left empty."""
    return form_text(form, name) or None


def _over_https(request: web.Request) -> bool:
    if request.secure:
        return True
    proto = request.headers.get("X-Forwarded-Proto", "") if from_trusted_proxy(request) else ""
    return proto.rsplit(",", 1)[-1].strip().lower() == "https"


def set_session_cookie(request: web.Request, response: web.StreamResponse, value: str) -> None:
    response.set_cookie(COOKIE, value, path="/", httponly=True, samesite="Lax", secure=_over_https(request))


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/")


def _locale(request: web.Request, session: PortalSession | None) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in i18n.LOCALES:
        return chosen
    if session is not None and session.locale in i18n.LOCALES:
        return session.locale
    return i18n.negotiate(request.headers.get("Accept-Language", "")) or i18n.DEFAULT_LOCALE


async def _check_csrf(request: web.Request) -> bool:
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sent = str((await request.post()).get(CSRF_FIELD, ""))
    return bool(sent) and hmac.compare_digest(sent.encode(), request[CSRF].encode())


@web.middleware
async def portal_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Session, language and CSRF in; refusals and outages as readable pages; security headers out."""
    if isinstance(request.match_info.route.resource, web.StaticResource):
        # Stylesheet and scripts: the same for everyone, cached by the browser, no session looked up.
        asset = await handler(request)
        asset.headers["Cache-Control"] = "public, max-age=3600"
        return _secured(request, asset)
    cookie = request.cookies.get(COOKIE)
    response: web.StreamResponse
    try:
        session = await request.app[SESSIONS].current(request, cookie) if cookie else None
        tenant_id = request.match_info.get("tenant")
        request[TENANT] = await request.app[TENANTS].find(request, tenant_id) if tenant_id else None
    except Unavailable:
        session, request[TENANT] = None, None
        request[SESSION], request[LOCALE] = None, _locale(request, None)
        request[CSRF] = ""
        i18n.use(request[LOCALE], request.app[TRANSLATIONS])
        return _secured(request, render(request, "unavailable.html", status=503))
    request[SESSION] = session
    request[LOCALE] = _locale(request, session)
    i18n.use(request[LOCALE], request.app[TRANSLATIONS])
    anonymous_csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    request[CSRF] = session.csrf_token if session else anonymous_csrf
    try:
        if request.method not in ("GET", "HEAD") and not await _check_csrf(request):
            response = render(request, "error.html", {"reason": "csrf"}, status=403)
        else:
            response = await handler(request)
    except SignInNeeded:
        target = request.match_info.get("tenant")
        response = redirect(f"/{target}/sign-in?next={quote(request.path_qs, safe='')}" if target else "/")
        if cookie:
            clear_session_cookie(response)
    except PageNotFound:
        response = render(request, "error.html", {"reason": "not-found"}, status=404)
    except PageForbidden:
        response = render(request, "error.html", {"reason": "forbidden"}, status=403)
    except Unavailable:
        response = render(request, "unavailable.html", status=503)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = "not-found" if exc.status in (404, 405) else "bad-request"
        response = render(request, "error.html", {"reason": reason}, status=exc.status)
    except Exception:
        log.exception("page failed", method=request.method, path=request.path)
        response = render(request, "error.html", {"reason": "internal"}, status=500)
    if cookie and session is None:
        clear_session_cookie(response)
    if session is None and CSRF_COOKIE not in request.cookies:
        response.set_cookie(CSRF_COOKIE, anonymous_csrf, path="/", httponly=True, samesite="Lax")
    return _secured(request, response)


def _secured(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Content-Security-Policy"] = request.app[POLICY]
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Vary"] = "Cookie, Accept-Language"
    return response


def path_id(request: web.Request, name: str) -> uuid.UUID:
    """A path segment that names something by its UUID; anything else is a page that does not exist."""
    return as_id(request.match_info[name])


def as_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise web.HTTPNotFound from None


def idempotency_key(form: Mapping[str, Any]) -> dict[str, str]:
    """The Idempotency-Key header of a form's command: the key rendered into the page, so that the
    same page sent twice (a double click) acts once."""
    return {"Idempotency-Key": str(form.get("idempotency_key", "")) or str(uuid.uuid4())}
