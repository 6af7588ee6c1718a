"""Sign in and sign out (browser), with the signed double-submit CSRF on the login form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from ...monitoring import accounts
from .. import csrf
from ..deps import SESSION_COOKIE, CurrentUser, RuntimeDep, client_ip
from ..templating import render

router = APIRouter()
LOGIN_FAILED = "Wrong username or password, or the account is disabled."
RATE_LIMITED = "Too many failed sign-ins: wait a minute and try again."


def safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def secure_cookie(request: Request, mode) -> bool:
    if mode in (True, "always"):
        return True
    if mode in (False, "never"):
        return False
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


def _login_page(request: Request, rt, *, error: str | None = None, next_: str = "/", username: str = "",
                status_code: int = 200):
    pre = request.cookies.get(csrf.PRE_COOKIE) or csrf.new_pre_token()
    resp = render(request, "login.html", {"error": error, "next": safe_next(next_), "username": username},
                  csrf_token=csrf.sign(rt.secret_key, pre), status_code=status_code)
    resp.set_cookie(csrf.PRE_COOKIE, pre, httponly=True, samesite="strict", path="/login",
                    secure=secure_cookie(request, rt.config.web.secure_cookies))
    return resp


@router.get("/login", include_in_schema=False)
def login_form(request: Request, rt: RuntimeDep, next: str = "/"):
    return _login_page(request, rt, next_=next)


@router.post("/login", include_in_schema=False)
def login(request: Request, rt: RuntimeDep, username: Annotated[str, Form(max_length=200)],
          password: Annotated[str, Form(max_length=1000)], csrf_token: Annotated[str, Form(max_length=200)] = "",
          next: Annotated[str, Form(max_length=2000)] = "/"):
    pre = request.cookies.get(csrf.PRE_COOKIE)
    if not pre or not csrf.same(csrf_token, csrf.sign(rt.secret_key, pre)):
        return _login_page(request, rt, error="The form expired: please sign in again.", next_=next, status_code=403)
    now = rt.clock()
    with rt.transaction() as s:
        result = accounts.login(s, username, password, client_ip(request), now, rt.config.web.login_attempts_per_minute)
        token = None
        if result.user is not None:
            token, _ = accounts.start_web_session(s, result.user, now, rt.config.web.session_hours)
    if result.user is None:
        limited = result.refused == "rate_limited"
        return _login_page(request, rt, error=RATE_LIMITED if limited else LOGIN_FAILED, next_=next,
                           username=username, status_code=429 if limited else 401)
    resp = RedirectResponse(safe_next(next), status_code=303)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", path="/",
                    max_age=int(rt.config.web.session_hours * 3600),
                    secure=secure_cookie(request, rt.config.web.secure_cookies))
    resp.delete_cookie(csrf.PRE_COOKIE, path="/login")
    return resp


@router.post("/logout", include_in_schema=False)
def logout(user: CurrentUser, rt: RuntimeDep):
    with rt.transaction() as s:
        if user.session_token:
            accounts.end_web_session(s, user.session_token, user.actor, rt.clock())
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp
