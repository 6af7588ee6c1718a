"""``create_app(config)``: the FastAPI application of ``maswatch serve``."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from urllib.parse import quote

from .. import __version__
from ..cds.router import install_service as install_cds
from ..errors import InputError
from ..monitoring.poll import monitor_pass
from ..monitoring.actors import Clock, utc_now
from .config import ServiceConfig
from .deps import NotSignedIn
from .middleware import BodyLimit, SecurityHeaders
from .routes import admin, api, auth, calculator, pages, patient, upload
from .routes import family as family_routes
from .runtime import open_runtime
from .templating import HERE, render

log = logging.getLogger(__name__)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", "")


async def monitor_loop(app: FastAPI, interval: float) -> None:
    """The in-server monitor: the same run_once as ``maswatch monitor``, in a worker thread."""
    rt = app.state.runtime
    while True:
        try:
            await asyncio.to_thread(monitor_pass, rt)
        except Exception:  # keep monitoring; the failure is logged without patient data
            log.exception("in-server monitor run failed")
        await asyncio.sleep(interval)


def create_app(config: ServiceConfig, *, clock: Clock = utc_now, run_monitor: bool | None = None) -> FastAPI:
    """The app; configuration read once. ``run_monitor``: default ``[monitor] in_server``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.runtime = rt = open_runtime(config, clock)
        task = None
        if config.monitor.in_server if run_monitor is None else run_monitor:
            task = asyncio.create_task(monitor_loop(app, config.monitor.interval_seconds))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
            rt.engine.dispose()

    app = FastAPI(title="maswatch", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Decision support for macrophage activation syndrome (MAS / secondary HLH). "
                              "Not a diagnosis. docs/service.md")
    app.state.config = config
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(auth.router)
    app.include_router(api.router)
    app.include_router(pages.router)
    for page_router in (patient.router, calculator.router, upload.router, admin.router):  # clinician pages
        app.include_router(page_router)
    app.include_router(family_routes.router)  # family guide + home diary (docs/family.md)
    install_cds(app, config)  # CDS Hooks 2.0.1: /cds-services (maswatch.cds, docs/cds-hooks.md)

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, exc: NotSignedIn):
        if _wants_json(request):
            return JSONResponse({"error": {"field": "authorization", "message": "sign in first (POST /api/session)"}},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError):
        if _wants_json(request):
            return JSONResponse({"error": {"field": exc.field, "message": exc.message},
                                 "stored": "nothing (the whole request was refused)"}, status_code=400)
        return render(request, "error.html", {"title": "Not accepted", "message": f"{exc.field}: {exc.message}"},
                      status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in err.get("loc", ()))
        return JSONResponse({"error": {"field": field, "message": err.get("msg", "")}}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        if _wants_json(request):
            return JSONResponse({"error": {"field": None, "message": exc.detail}}, status_code=exc.status_code,
                                headers=exc.headers)
        return render(request, "error.html", {"title": {403: "Not allowed", 404: "Not found"}.get(
            exc.status_code, "Error"), "message": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):  # no traceback reaches a user
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return JSONResponse({"error": {"field": None, "message": "internal error; nothing was changed"}},
                            status_code=500)

    app.add_middleware(BodyLimit, max_bytes=config.web.max_upload_bytes)
    app.add_middleware(SecurityHeaders)
    return app
