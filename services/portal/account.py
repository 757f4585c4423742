"""Everyone's screens: signing in and out, activation, recovery, the profile and closing an account."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from libs.common.clock import utc_now
from services.portal import i18n
from services.portal.problems import Problems, explain
from services.portal.sessions import Tokens
from services.portal.web import (
    GATEWAY,
    LANG_COOKIE,
    LOCALE,
    SESSION,
    SESSIONS,
    api,
    clear_session_cookie,
    form_of,
    link,
    redirect,
    render,
    set_session_cookie,
    signed_in,
    tenant_of,
)

ROUTES = web.RouteTableDef()
TENANT_ID = re.compile(r"[a-z0-9-]{2,40}")


@ROUTES.get("/")
async def landing(request: web.Request) -> web.Response:
    tenant_id = request.query.get("tenant", "").strip().lower()
    if TENANT_ID.fullmatch(tenant_id):  # never a redirect elsewhere ("//another.site")
        return redirect(f"/{tenant_id}/sign-in")
    return render(request, "landing.html")


@ROUTES.get("/{tenant}")
@ROUTES.get("/{tenant}/")
async def home(request: web.Request) -> web.Response:
    tenant_of(request)
    session = signed_in(request)
    me = await api(request, "GET", "/identity/me")
    name = me.body.get("display_name", "") if me.ok else ""
    return render(request, "home.html", {"roles": session.roles, "name": name})


@ROUTES.get("/{tenant}/language/{locale}")
async def choose_language(request: web.Request) -> web.Response:
    locale = request.match_info["locale"]
    response = redirect(_safe_next(request, request.query.get("next")))
    if locale in i18n.LOCALES:
        response.set_cookie(LANG_COOKIE, locale, path="/", max_age=365 * 86400, samesite="Lax", httponly=True)
    return response


def _safe_next(request: web.Request, target: str | None) -> str:
    """Where to go after signing in: a page of this tenant's portal, never another site."""
    home_path = link(request)
    if target and target.startswith(home_path) and not target.startswith("//"):
        return target
    return home_path


@ROUTES.get("/{tenant}/sign-in")
async def sign_in_page(request: web.Request) -> web.Response:
    tenant_of(request)
    return render(
        request, "sign_in.html", {"problems": Problems(), "login": "", "next": request.query.get("next", "")}
    )


@ROUTES.post("/{tenant}/sign-in")
async def sign_in(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    form = await form_of(request)
    login, target = str(form.get("login", "")).strip(), str(form.get("next", ""))
    answer = await request.app[GATEWAY].call(
        request,
        "POST",
        "/identity/sessions",
        json={"tenant_id": tenant.tenant_id, "login": login, "password": str(form.get("password", ""))},
    )
    if answer.status == 403 and isinstance(answer.body, dict) and answer.body.get("password_change_required"):
        context = {"problems": Problems(), "change_token": answer.body["change_token"], "next": target}
        return render(request, "password_change_required.html", context)
    if not answer.ok:
        context = {"problems": explain(answer, tenant.time_zone), "login": login, "next": target}
        return render(request, "sign_in.html", context, status=answer.status)
    return await _open_session(request, answer.body, _safe_next(request, target))


async def _open_session(request: web.Request, tokens: dict[str, Any], target: str) -> web.Response:
    me = await request.app[GATEWAY].call(request, "GET", "/identity/me", token=tokens["access_token"])
    profile = me.body if me.ok else {}
    cookie = await request.app[SESSIONS].open(
        tenant_of(request).tenant_id,
        Tokens.of(tokens, utc_now()),
        str(profile.get("locale") or i18n.DEFAULT_LOCALE),
        utc_now(),
    )
    response = redirect(target)
    set_session_cookie(request, response, cookie)
    response.del_cookie(LANG_COOKIE, path="/")  # the account's own language from now on
    return response


@ROUTES.post("/{tenant}/password-change-required")
async def change_required_password(request: web.Request) -> web.Response:
    form = await form_of(request)
    token, target = str(form.get("change_token", "")), str(form.get("next", ""))
    answer = await request.app[GATEWAY].call(
        request,
        "POST",
        "/identity/sessions/password-change",
        json={"change_token": token, "new_password": str(form.get("new_password", ""))},
    )
    if not answer.ok:
        context = {"problems": explain(answer), "change_token": token, "next": target}
        return render(request, "password_change_required.html", context, status=answer.status)
    return await _open_session(request, answer.body, _safe_next(request, target))


@ROUTES.post("/{tenant}/sign-out")
async def sign_out(request: web.Request) -> web.Response:
    session = request[SESSION]
    response = redirect(link(request, "sign-in"))
    if session is not None:
        await request.app[GATEWAY].call(
            request, "POST", "/identity/sessions/logout", json={"refresh_token": session.refresh_token}
        )
        await request.app[SESSIONS].forget(session)
    clear_session_cookie(response)
    return response


@ROUTES.get("/{tenant}/register")
async def register_page(request: web.Request) -> web.Response:
    tenant_of(request)
    return render(request, "register.html", {"problems": Problems(), "form": {}})


@ROUTES.post("/{tenant}/register")
async def register(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    form = await form_of(request)
    body: dict[str, Any] = {
        "tenant_id": tenant.tenant_id,
        "email": str(form.get("email", "")).strip(),
        "display_name": str(form.get("display_name", "")).strip(),
        "locale": request[LOCALE],
    }
    if str(form.get("customer_code", "")).strip():
        body["customer_code"] = str(form["customer_code"]).strip()
    answer = await request.app[GATEWAY].call(request, "POST", "/identity/accounts", json=body)
    if not answer.ok:
        return render(
            request, "register.html", {"problems": explain(answer), "form": form}, status=answer.status
        )
    return render(request, "registered.html", {"email": body["email"]})


@ROUTES.get("/{tenant}/activations/{token}")
async def activation_page(request: web.Request) -> web.Response:
    tenant_of(request)
    return render(request, "activate.html", {"problems": Problems(), "token": request.match_info["token"]})


@ROUTES.post("/{tenant}/activations/{token}")
async def activate(request: web.Request) -> web.Response:
    form = await form_of(request)
    token = request.match_info["token"]
    answer = await request.app[GATEWAY].call(
        request,
        "POST",
        "/identity/activations",
        json={"token": token, "password": str(form.get("password", ""))},
    )
    if not answer.ok:
        return render(
            request, "activate.html", {"problems": explain(answer), "token": token}, status=answer.status
        )
    return redirect(link(request, "sign-in") + "?notice=activated")


@ROUTES.get("/{tenant}/activate-by-code")
async def activation_code_page(request: web.Request) -> web.Response:
    tenant_of(request)
    return render(request, "activate_code.html", {"problems": Problems(), "login": "", "resent": False})


@ROUTES.post("/{tenant}/activate-by-code")
async def activate_by_code(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    form = await form_of(request)
    login = str(form.get("login", "")).strip()
    body = {
        "tenant_id": tenant.tenant_id,
        "login": login,
        "code": str(form.get("code", "")).strip(),
        "password": str(form.get("password", "")),
    }
    answer = await request.app[GATEWAY].call(request, "POST", "/identity/activations/code", json=body)
    if not answer.ok:
        context = {"problems": explain(answer), "login": login, "resent": False}
        return render(request, "activate_code.html", context, status=answer.status)
    return redirect(link(request, "sign-in") + "?notice=activated")


@ROUTES.post("/{tenant}/activate-by-code/resend")
async def resend_activation(request: web.Request) -> web.Response:
    """A new activation code or link, by SMS or email (earlier ones stop working)."""
    tenant = tenant_of(request)
    form = await form_of(request)
    login = str(form.get("login", "")).strip()
    channel = "sms" if form.get("channel") == "sms" else "email"
    method = "link" if form.get("method") == "link" else "code"
    body = {"tenant_id": tenant.tenant_id, "login": login, "channel": channel, "method": method}
    answer = await request.app[GATEWAY].call(request, "POST", "/identity/activations/resend", json=body)
    problems = Problems() if answer.ok else explain(answer, tenant.time_zone)
    context = {"problems": problems, "login": login, "resent": answer.ok}
    return render(request, "activate_code.html", context, status=200 if answer.ok else answer.status)


@ROUTES.get("/{tenant}/recovery")
async def recovery_page(request: web.Request) -> web.Response:
    tenant_of(request)
    return render(request, "recovery.html", {"problems": Problems(), "login": "", "sent": False})


@ROUTES.post("/{tenant}/recovery")
async def recovery(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    form = await form_of(request)
    login = str(form.get("login", "")).strip()
    if form.get("code"):
        body = {
            "tenant_id": tenant.tenant_id,
            "login": login,
            "code": str(form.get("code", "")).strip(),
            "new_password": str(form.get("new_password", "")),
        }
        answer = await request.app[GATEWAY].call(request, "POST", "/identity/recoveries/confirm", json=body)
        if answer.ok:
            return redirect(link(request, "sign-in") + "?notice=password-changed")
        context = {"problems": explain(answer), "login": login, "sent": True}
        return render(request, "recovery.html", context, status=answer.status)
    answer = await request.app[GATEWAY].call(
        request, "POST", "/identity/recoveries", json={"tenant_id": tenant.tenant_id, "login": login}
    )
    problems = Problems() if answer.ok else explain(answer)
    return render(request, "recovery.html", {"problems": problems, "login": login, "sent": answer.ok})


@ROUTES.get("/{tenant}/profile")
async def profile_page(request: web.Request) -> web.Response:
    signed_in(request)
    me = await api(request, "GET", "/identity/me")
    return render(request, "profile.html", {"me": me.body, "problems": Problems()})


@ROUTES.post("/{tenant}/profile")
async def edit_profile(request: web.Request) -> web.Response:
    session = signed_in(request)
    form = await form_of(request)
    changes = {
        "display_name": str(form.get("display_name", "")).strip(),
        "locale": str(form.get("locale", "")),
    }
    if str(form.get("phone", "")).strip():
        changes["phone"] = str(form["phone"]).strip()
    answer = await api(request, "PATCH", "/identity/me", json=changes)
    if not answer.ok:
        me = await api(request, "GET", "/identity/me")
        context = {"me": me.body | changes, "problems": explain(answer)}
        return render(request, "profile.html", context, status=answer.status)
    await request.app[SESSIONS].remember_locale(session, answer.body["locale"])
    response = redirect(link(request, "profile") + "?notice=saved")
    response.del_cookie(LANG_COOKIE, path="/")
    return response


@ROUTES.post("/{tenant}/profile/password")
async def change_password(request: web.Request) -> web.Response:
    signed_in(request)
    form = await form_of(request)
    body = {
        "current_password": str(form.get("current_password", "")),
        "new_password": str(form.get("new_password", "")),
    }
    answer = await api(request, "POST", "/identity/me/password", json=body)
    if not answer.ok:
        me = await api(request, "GET", "/identity/me")
        problems = explain(answer)
        return render(request, "profile.html", {"me": me.body, "problems": problems}, status=answer.status)
    return redirect(link(request, "profile") + "?notice=password-changed")


@ROUTES.post("/{tenant}/profile/sign-out-everywhere")
async def sign_out_everywhere(request: web.Request) -> web.Response:
    session = signed_in(request)
    await api(request, "POST", "/identity/me/sessions/revoke")
    await request.app[SESSIONS].forget_account(session)
    response = redirect(link(request, "sign-in") + "?notice=signed-out-everywhere")
    clear_session_cookie(response)
    return response


@ROUTES.get("/{tenant}/profile/close")
async def close_page(request: web.Request) -> web.Response:
    signed_in(request)
    return render(request, "close_account.html", {"problems": Problems()})


@ROUTES.post("/{tenant}/profile/close")
async def close_account(request: web.Request) -> web.Response:
    session = signed_in(request)
    form = await form_of(request)
    if form.get("confirm") != "yes":
        problems = Problems()
        problems.add(i18n.gettext("Tick the box to confirm."), "confirm")
        return render(request, "close_account.html", {"problems": problems}, status=422)
    answer = await api(request, "DELETE", "/identity/me", json={"password": str(form.get("password", ""))})
    if not answer.ok:
        return render(request, "close_account.html", {"problems": explain(answer)}, status=answer.status)
    await request.app[SESSIONS].forget_account(session)
    response = redirect(link(request, "sign-in") + "?notice=account-closed")
    clear_session_cookie(response)
    return response
