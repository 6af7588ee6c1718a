"""``maswatch serve --config FILE [--host H] [--port P]`` and ``maswatch serve --demo``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import typer

from ..errors import InputError
from . import app
from ._io import err_console, usage_errors

ServiceConfigOpt = typer.Option(None, "--config", help="Service TOML (docs/service.md); default: built-in defaults.")


@app.command()
def serve(
    config: Optional[Path] = ServiceConfigOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    demo: bool = typer.Option(False, "--demo", help="A throwaway SQLite database with a SYNTHETIC cohort and demo "
                              "accounts (passwords printed)."),
) -> None:
    """Run the clinician web app, the JSON API and (when configured) the monitor and CDS Hooks service."""
    import uvicorn

    from ..monitoring.actors import utc_now
    from ..monitoring.demo import load_demo
    from ..web import create_app
    from ..web.collector import tune_for_serving
    from ..web.config import load_config
    from ..web.runtime import open_runtime

    err = err_console()
    with usage_errors(err):
        if demo:
            if config is not None:
                raise InputError("--demo", "runs on its own throwaway database: leave out --config")
            tmp = Path(tempfile.mkdtemp(prefix="maswatch-demo-"))
            cfg = load_config(None, demo=True, overrides={"database_url": f"sqlite:///{tmp / 'demo.db'}"})
            rt = open_runtime(cfg, utc_now)
            try:
                creds = load_demo(rt.sessions, rt.rules, utc_now)
            finally:
                rt.engine.dispose()
            err.print(f"SYNTHETIC DEMO — database {tmp / 'demo.db'}", style="bold red")
            err.print(f"  clinician: {creds.clinician[0]}  password: {creds.clinician[1]}", highlight=False)
            err.print(f"  admin:     {creds.admin[0]}  password: {creds.admin[1]}", highlight=False)
        else:
            cfg = load_config(config)
            rt = open_runtime(cfg, utc_now)  # fails early (bad URL, schema behind) with a clear message
            rt.engine.dispose()
        err.print(f"maswatch serving on http://{host}:{port}/ (sign in at /login; API at /openapi.json)",
                  highlight=False)
    application = create_app(cfg)
    tune_for_serving()  # start-up objects frozen, fewer collections: web/collector.py says why
    uvicorn.run(application, host=host, port=port, log_level="info", proxy_headers=False)
