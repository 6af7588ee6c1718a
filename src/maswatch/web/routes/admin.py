"""Admin pages: the users (add, disable, enable). Admins only; every change audited by the
accounts service in the same transaction. (The audit log page is in pages.py.)"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from ...errors import InputError
from ...monitoring import accounts
from ...store import repo
from .. import views
from ..deps import AdminUser, RuntimeDep
from ..templating import render

router = APIRouter(include_in_schema=False)


def _users_page(request: Request, user, rt, *, error: dict | None = None, form: dict | None = None,
                status_code: int = 200):
    with rt.transaction() as s:
        users = [{"username": u.username, "role": u.role, "disabled": u.disabled, "created": views.when(u.created_at)}
                 for u in repo.users(s)]
    return render(request, "users.html", {"users": users, "roles": accounts.ROLES, "error": error,
                                          "form": form or {}, "min_chars": accounts.MIN_PASSWORD_CHARS},
                  user=user, status_code=status_code)


@router.get("/admin/users")
def users_page(request: Request, user: AdminUser, rt: RuntimeDep):
    return _users_page(request, user, rt)


@router.post("/admin/users")
def add_user(request: Request, user: AdminUser, rt: RuntimeDep, username: Annotated[str, Form(max_length=100)],
             password: Annotated[str, Form(max_length=1000)], role: Annotated[str, Form(max_length=20)]):
    try:
        with rt.transaction() as s:
            accounts.create_user(s, username.strip(), password, role, user.actor, rt.clock())
    except InputError as exc:
        return _users_page(request, user, rt, error={"field": exc.field, "message": exc.message},
                           form={"username": username, "role": role}, status_code=400)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{username}/{change}")
def disable_user(request: Request, username: str, change: str, user: AdminUser, rt: RuntimeDep):
    if change not in ("disable", "enable"):
        raise InputError("change", "must be disable or enable")
    try:
        with rt.transaction() as s:
            accounts.set_disabled(s, username, change == "disable", user.actor, rt.clock())
    except InputError as exc:
        return _users_page(request, user, rt, error={"field": exc.field, "message": exc.message}, status_code=400)
    return RedirectResponse("/admin/users", status_code=303)
