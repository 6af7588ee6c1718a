"""What the browser tests share: `maswatch serve` in a subprocess on a fresh database with
users made by `maswatch users add`, and Debian's Chromium driven by Playwright.

Playwright cannot download browsers here, so it launches /usr/bin/chromium (`.ci/run`
installs it); the flags keep Chromium off the closed network."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason="Debian's Chromium (/usr/bin/chromium) is not installed; .ci/run installs it")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
HERE = Path(__file__).parent
AXE = (HERE / "vendor" / "axe.min.js").read_text()
SHOTS = Path(os.environ.get("MASWATCH_SCREENSHOTS") or HERE / "screenshots")
MASWATCH = [sys.executable, "-m", "maswatch"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, log: Path, tries: int = 300) -> None:
    """Poll ``url`` until it answers 200; fail with the server's log if the process died."""
    for _ in range(tries):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise AssertionError(log.read_text())
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {tries / 10:.0f} s\n{log.read_text()}")


@contextlib.contextmanager
def running_server(tmp: Path, users: list[tuple[str, str]], password: str, extra_config: str = "",
                   database_url: str | None = None, start_seconds: float = 30) -> Iterator[str]:
    """A `maswatch serve` (its monitor off) on ``database_url``, by default a fresh SQLite database
    under ``tmp``; yields its base URL."""
    cfg = tmp / "service.toml"
    url = database_url or f"sqlite:///{tmp / 'maswatch.db'}"
    cfg.write_text(f"database_url = {json.dumps(url)}\n[monitor]\nin_server = false\n" + extra_config)
    for name, role in users:
        r = subprocess.run([*MASWATCH, "users", "add", name, "--role", role, "--config", str(cfg)],
                           input=password + "\n", capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    port = free_port()
    log_path = tmp / "serve.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([*MASWATCH, "serve", "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base + "/login", proc, log_path, tries=int(start_seconds * 10))
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def api_token(base: str, username: str, password: str) -> str:
    r = httpx.post(base + "/api/session", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def shot(page, name: str) -> None:
    """A full-page screenshot under $MASWATCH_SCREENSHOTS (default tests/screenshots/)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def axe_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it stands."""
    page.add_script_tag(content=AXE)
    res = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"][:3]]}
            for v in res["violations"] if v["impact"] in ("serious", "critical")]
