"""FastAPI dependencies: the runtime, who is asking (session cookie or bearer token), CSRF
on every unsafe request made with a cookie, and the admin role.

    @router.post("/x")
    def x(user: CurrentUser, rt: RuntimeDep): ...      # signed in, CSRF checked
    def y(user: AdminUser, ...): ...                    # admins only (403 otherwise)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from ..monitoring import accounts
from ..monitoring.actors import Actor
from . import csrf
from .runtime import Runtime

SESSION_COOKIE = "maswatch_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class NotSignedIn(Exception):
    """No valid session or token: 401 for the API, a redirect to /login for pages."""


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: str
    via: str
    """'session' (browser cookie; CSRF applies) or 'token' (bearer; CSRF-exempt)."""
    csrf_token: str | None = None
    session_token: str | None = None
    ip: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(self.username, self.user_id, self.ip)


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def principal(request: Request, rt: RuntimeDep) -> Principal:
    ip = client_ip(request)
    now = rt.clock()
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            with rt.transaction() as s:
                user = accounts.api_token_user(s, token.strip(), now)
                if user is not None:
                    return Principal(user.id, user.username, user.role, "token", ip=ip)
        raise NotSignedIn()
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        with rt.transaction() as s:
            found = accounts.web_session_user(s, cookie, now)
            if found is not None:
                user, ws = found
                return Principal(user.id, user.username, user.role, "session", ws.csrf_token, cookie, ip)
    raise NotSignedIn()


async def csrf_checked(request: Request, who: Annotated[Principal, Depends(principal)]) -> Principal:
    if request.method in SAFE_METHODS or who.via == "token":
        return who
    sent = request.headers.get(csrf.HEADER)
    if sent is None and request.headers.get("content-type", "").split(";")[0].strip() in FORM_TYPES:
        form = await request.form()
        value = form.get(csrf.FIELD)
        sent = value if isinstance(value, str) else None
    if not csrf.same(sent, who.csrf_token):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    return who


CurrentUser = Annotated[Principal, Depends(csrf_checked)]


def require_admin(who: CurrentUser) -> Principal:
    if who.role != "admin":
        raise HTTPException(403, "this page is for administrators")
    return who


AdminUser = Annotated[Principal, Depends(require_admin)]
