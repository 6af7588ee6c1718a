"""Jinja2 templates (autoescaped) with the context every page needs: the signed-in user,
the CSRF token for its forms, and whether to show the SYNTHETIC DATA banner."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from .. import __version__
from ..batch import CONTEXT_TEXT

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["context_text"] = lambda code: CONTEXT_TEXT.get(code, code)  # "sjia" -> "sJIA", as the reading writes it


def render(request: Request, name: str, context: dict | None = None, *, user=None, status_code: int = 200,
           csrf_token: str | None = None):
    rt = request.app.state.runtime
    ctx = {"user": user, "csrf_token": csrf_token or (user.csrf_token if user is not None else None),
           "demo": rt.config.demo, "version": __version__, **(context or {})}
    ctx["synthetic_banner"] = rt.config.demo or bool(ctx.get("synthetic"))
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)
