"""Accounts, the service configuration and the CLI commands around them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from maswatch.errors import InputError
from maswatch.monitoring.accounts import password_problem
from maswatch.web.config import load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]


def maswatch(*args, stdin: str | None = None, cwd=None):
    return subprocess.run([sys.executable, "-m", "maswatch", *args], input=stdin, capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def test_example_service_file_loads_and_means_what_it_says():
    cfg = load_config(ROOT / "examples" / "service.toml")
    assert cfg.database_url == "sqlite:///maswatch.db" and cfg.secret_key is None
    assert cfg.web.max_upload_bytes == 20_000_000 and cfg.web.login_attempts_per_minute == 5
    assert cfg.monitor.in_server and cfg.monitor.interval_seconds == 300
    assert cfg.cds_hooks.clients[0].iss == "https://ehr.example.org"
    assert list(cfg.cds_hooks.clients[0].jku) == ["http://127.0.0.1:8123/jwks.json"]
    assert cfg.fhir.base_url == "http://127.0.0.1:8080/fhir"
    rules = cfg.rules()
    assert rules.lookback.hours["ferritin"] == 72 and rules.settings.ms_score_cutoff == "sjia"


@pytest.mark.parametrize("values,field", [
    ({"web": {"sesion_hours": 3}}, "web.sesion_hours"),
    ({"databse_url": "x"}, "databse_url"),
    ({"cds_hooks": {"clients": [{"iss": "https://ehr.example.org", "jwks_url": "http://127.0.0.1:8123/jwks.json",
                                 "kid": "c"}]}}, "cds_hooks.clients[0].kid"),
    ({"clinical": {"lookback": {"ferritn": 3}}}, "clinical.lookback"),
    ({"clinical": {"ms_score_cutoff": "adult"}}, "clinical.ms_score_cutoff"),
    ({"web": {"max_upload_bytes": 0}}, "web.max_upload_bytes"),
    ({"secret_key": "changeme"}, "secret_key"),
    ({"secret_key": "short-but-not-listed"}, "secret_key"),
    ({"public_url": "ftp://x"}, "public_url"),
])
def test_bad_configuration_is_refused_with_its_path(values, field):
    with pytest.raises(InputError) as exc:
        parse_config(values)
    assert exc.value.field == field


def test_weak_secret_allowed_only_in_demo():
    assert parse_config({"secret_key": "changeme"}, demo=True).demo
    assert parse_config({"secret_key": "x" * 40}).secret_key == "x" * 40


@pytest.mark.parametrize("pw,ok", [("", False), ("   ", False), ("short pw", False), ("aaaaaaaaaaaaaaaa", False),
                                   ("password1234", False), ("alice-is-my-name!", False),
                                   ("correct horse battery", True)])
def test_password_rules(pw, ok):
    assert (password_problem("alice", pw) is None) == ok


def test_users_add_reads_stdin_upgrades_a_fresh_database_and_refuses_weak(tmp_path):
    cfg = tmp_path / "service.toml"
    cfg.write_text(f'database_url = "sqlite:///{tmp_path / "m.db"}"\n')
    r = maswatch("users", "add", "alice", "--role", "clinician", "--config", str(cfg), stdin="correct horse battery\n")
    assert r.returncode == 0, r.stderr
    r = maswatch("users", "add", "bob", "--role", "admin", "--config", str(cfg), stdin="weak\n")
    assert r.returncode == 2 and "password" in r.stderr and "Traceback" not in r.stderr
    r = maswatch("users", "add", "alice", "--role", "admin", "--config", str(cfg), stdin="another good password\n")
    assert r.returncode == 2 and "already exists" in r.stderr
    r = maswatch("users", "add", "carol", "--role", "nurse", "--config", str(cfg), stdin="another good password\n")
    assert r.returncode == 2 and "--role" in r.stderr
    r = maswatch("users", "list", "--config", str(cfg))
    assert r.stdout.splitlines() == ["alice\tclinician\tactive"]
    assert maswatch("db", "check", "--config", str(cfg)).returncode == 0


def test_serve_refuses_a_bad_config_without_traceback(tmp_path):
    cfg = tmp_path / "service.toml"
    cfg.write_text('[web]\nsesion_hours = 1\n')
    r = maswatch("serve", "--config", str(cfg))
    assert r.returncode == 2 and "web.sesion_hours" in r.stderr and "Traceback" not in r.stderr
