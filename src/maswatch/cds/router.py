"""CDS Hooks HTTP routes (thin): discovery, the services, feedback. Translate only.

``install(app, runtime)`` includes the router and CORS for the configured EHR origins; the
server's app factory calls it once. Every call but discovery must carry a trusted JWT
(``auth.Verifier``); a refusal is a bare 401 (the reason goes to the server log).
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response

from ..errors import InputError
from ..jsondoc import read_json_bytes
from . import hooks
from .auth import JwksCache, Refused, Verifier
from .config import CdsHooksConfig
from .services import SERVICE_IDS, discovery
from .state import CdsState, MemoryState

log = logging.getLogger("maswatch.cds")
FHIR_JSON = "application/json"


@dataclass
class CdsRuntime:
    """What the routes need, built once at start-up."""

    config: CdsHooksConfig
    state: Callable[[], AbstractContextManager[CdsState]]
    """A unit of work: ``with runtime.state() as s:`` commits on success, rolls back on error."""
    settings: hooks.HookSettings = field(default_factory=hooks.HookSettings)
    public_url: str | None = None
    jwks: JwksCache | None = None
    verifier: Verifier | None = None

    def __post_init__(self):
        if self.verifier is None:
            self.verifier = Verifier(self.config, _JtiInOwnTransaction(self.state), self.jwks)
        self.settings.window_days = self.config.fhir_window_days


class _JtiInOwnTransaction:
    """A token id is remembered in its own transaction: a replay stays refused even if the call then fails."""

    def __init__(self, state):
        self.state = state

    def remember(self, iss: str, jti: str, expires_at: float) -> bool:
        with self.state() as s:
            return s.remember(iss, jti, expires_at)


def memory_runtime(config: CdsHooksConfig, **kw) -> CdsRuntime:
    """A runtime with process-local state (tests, benchmarks)."""
    st = MemoryState()

    @contextmanager
    def unit() -> Iterator[CdsState]:
        yield st

    rt = CdsRuntime(config, unit, **kw)
    rt.memory = st  # type: ignore[attr-defined]
    return rt


def _audience(request: Request, public_url: str | None) -> str:
    if public_url:
        return public_url.rstrip("/") + request.url.path
    u = request.url
    return f"{u.scheme}://{u.netloc}{u.path}"


def _unauthorized() -> Response:
    return JSONResponse({"error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})


async def _body(request: Request, limit: int):
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise hooks.HookError(413, f"request body over {limit} bytes", "too-costly")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise hooks.HookError(413, f"request body over {limit} bytes", "too-costly")
    try:
        return read_json_bytes(bytes(data), what="request")
    except InputError as exc:
        raise hooks.HookError(400, f"{exc.field}: {exc.message}") from None


def build_router(rt: CdsRuntime) -> APIRouter:
    router = APIRouter(tags=["CDS Hooks"])

    @router.get("/cds-services")
    def cds_discovery() -> dict:
        return discovery()

    async def _call(service_id: str, request: Request, work) -> Response:
        if service_id not in SERVICE_IDS:
            return JSONResponse(hooks.outcome(f"no CDS service {service_id!r}", "not-found"), status_code=404)
        try:
            caller = rt.verifier.verify(request.headers.get("authorization"), _audience(request, rt.public_url))
        except Refused as exc:
            log.warning("CDS call refused (%s): %s", request.url.path, exc.reason)
            return _unauthorized()
        try:
            body = await _body(request, rt.config.max_body_bytes)
            from starlette.concurrency import run_in_threadpool

            return JSONResponse(await run_in_threadpool(work, body, caller))
        except hooks.HookError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        except Exception:  # no traceback reaches a client
            log.exception("CDS service %s failed", service_id)
            return JSONResponse(hooks.outcome("internal error: the service could not assess this request",
                                              "exception"), status_code=500)

    @router.post("/cds-services/{service_id}")
    async def cds_service(service_id: str, request: Request) -> Response:
        def work(body, caller):
            with rt.state() as state:
                return hooks.handle(service_id, body, caller, state, rt.settings)
        return await _call(service_id, request, work)

    @router.post("/cds-services/{service_id}/feedback")
    async def cds_feedback(service_id: str, request: Request) -> Response:
        def work(body, caller):
            with rt.state() as state:
                hooks.feedback(service_id, body, caller, state)
            return {}
        return await _call(service_id, request, work)

    return router


def install(app: FastAPI, rt: CdsRuntime) -> None:
    """Mount the CDS Hooks routes and CORS for the configured EHR origins."""
    app.include_router(build_router(rt))
    if rt.config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(rt.config.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], max_age=600)


def install_service(app: FastAPI, config) -> None:
    """For ``maswatch serve``: state in the server's database (one transaction per call, the
    server's runtime is opened in its lifespan), assessments under the configured rules."""
    from ..store.cds_repo import SqlCdsState

    @contextmanager
    def unit() -> Iterator[CdsState]:
        with app.state.runtime.transaction() as session:
            yield SqlCdsState(session)

    settings = hooks.HookSettings(assess=lambda tl: app.state.runtime.rules.assess(tl),
                                  rules_fingerprint=lambda: app.state.runtime.rules.fingerprint)
    install(app, CdsRuntime(config.cds_hooks, unit, settings, public_url=config.public_url))


__all__ = ["CdsRuntime", "build_router", "install", "install_service", "memory_runtime"]
