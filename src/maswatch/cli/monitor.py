"""``maswatch monitor --config FILE [--once]``: assess patients with new data on a schedule."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from . import app
from ._io import err_console, usage_errors


@app.command()
def monitor(config: Optional[Path] = typer.Option(None, "--config", help="Service TOML (docs/service.md)."),
            once: bool = typer.Option(False, "--once", help="One pass over the pending patients, then exit.")) -> None:
    """Re-assess every patient with new results (the same code path as ``maswatch assess``),
    store the assessments and raise notifications; every ``[monitor] interval_seconds``."""
    from ..monitoring.poll import monitor_pass
    from ..monitoring.actors import utc_now
    from ..web.collector import tune_for_serving
    from ..web.config import load_config
    from ..web.runtime import open_runtime

    err = err_console()
    with usage_errors(err):
        cfg = load_config(config)
        rt = open_runtime(cfg, utc_now)
    tune_for_serving()  # it parses whole timelines and FHIR pages, as the server does: web/collector.py
    try:
        while True:
            polled, rep = monitor_pass(rt)
            if polled is not None:
                err.print(f"FHIR poll: {polled.polled} patients, {polled.stored} observations stored, "
                          f"{len(polled.failed)} failed", highlight=False)
            err.print(f"monitor: {rep.assessed} assessed, {rep.failed} failed, {rep.notifications} notifications",
                      highlight=False)
            if once:
                return
            time.sleep(cfg.monitor.interval_seconds)
    except KeyboardInterrupt:
        return
    finally:
        rt.engine.dispose()
