"""The service configuration: ONE TOML file for the whole server (docs/service.md).

Read once, at start-up, into a frozen model; an unknown key is refused with its path
(``web.sesion_hours``), and a known weak secret is refused outside ``--demo``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import InputError
from ..rules import Rules, build_rules, read_toml

WEAK_SECRETS = frozenset({"", "secret", "changeme", "change-me", "password", "maswatch", "dev", "development",
                          "test", "default", "...", "insecure", "secret_key", "your-secret-key"})
MIN_SECRET_CHARS = 32


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebConfig(_Strict):
    session_hours: float = Field(12, gt=0, le=24 * 30)
    secure_cookies: Literal["auto", "always", "never"] | bool = "auto"
    """'auto': the Secure flag when the request came over https (or X-Forwarded-Proto https)."""
    max_upload_bytes: int = Field(20_000_000, gt=0, le=1_000_000_000)
    login_attempts_per_minute: int = Field(5, ge=1, le=1000)
    api_token_hours: float = Field(12, gt=0, le=24 * 90)


class MonitorConfig(_Strict):
    interval_seconds: float = Field(300, ge=1, le=86_400)
    in_server: bool = True
    """Run the monitor inside ``serve`` (the SQLite default); else run ``maswatch monitor`` beside it."""


class SmartConfig(_Strict):
    token_url: str
    client_id: str
    private_key_file: str
    kid: str
    alg: Literal["RS384", "ES384"] = "RS384"
    scope: str = "system/Observation.read system/Patient.read system/Condition.read"


class FhirConfig(_Strict):
    base_url: str
    bearer_token: str | None = None
    smart: SmartConfig | None = None
    timeout_seconds: float = Field(10, gt=0, le=600)
    lookback_days: float = Field(30, gt=0, le=3650)
    """How far back the first poll of a patient reads."""


class FamilyConfig(_Strict):
    """[family]: the home symptom diary and the family guide (docs/family.md)."""

    team_phone: str | None = Field(None, max_length=60)
    """The rheumatology team's phone number, shown in large type on every family page."""
    emergency_number: str = Field("112", min_length=1, max_length=20)
    """The local emergency number (112 in Europe, 911 in North America, 999 in the UK, ...)."""
    link_days: float = Field(90, gt=0, le=366)
    """A diary link expires this many days after it was made (a clinician makes a new one)."""
    entries_per_hour: int = Field(20, ge=1, le=1000)
    """Diary entries one link may send per hour (more are refused with the team's number)."""


# [cds_hooks]: the CDS Hooks service's own model (trusted clients, skew, CORS; docs/cds-hooks.md)
from ..cds.config import CdsHooksConfig  # noqa: E402


class ServiceConfig(_Strict):
    database_url: str = "sqlite:///maswatch.db"
    secret_key: str | None = None
    public_url: str | None = None
    web: WebConfig = WebConfig()
    monitor: MonitorConfig = MonitorConfig()
    clinical: dict[str, Any] = {}
    """Settings keys plus [clinical.lookback] / [clinical.overdue] / [clinical.trends] (maswatch.rules)."""
    fhir: FhirConfig | None = None
    cds_hooks: CdsHooksConfig = CdsHooksConfig()
    family: FamilyConfig = FamilyConfig()
    demo: bool = False
    """Set by ``serve --demo`` only (not a file key in practice): SYNTHETIC banner, weak secrets allowed."""

    @field_validator("public_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/") if v else v

    def rules(self) -> Rules:
        return build_rules(self.clinical, where="clinical")

    def check_secret(self) -> None:
        if self.secret_key is None or self.demo:
            return
        if self.secret_key.strip().lower() in WEAK_SECRETS or len(self.secret_key) < MIN_SECRET_CHARS:
            raise InputError("secret_key", f"is a known weak value or shorter than {MIN_SECRET_CHARS} characters; "
                             "remove it (a random key is then kept in the database) or use a long random value")


def _path(loc: tuple) -> str:
    return ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")


def parse_config(values: dict[str, Any], *, demo: bool = False) -> ServiceConfig:
    """Validate a config mapping; InputError naming the key path of the first problem."""
    try:
        cfg = ServiceConfig.model_validate({**values, **({"demo": True} if demo else {})})
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = "unknown key (see docs/service.md)" if err["type"] == "extra_forbidden" else err["msg"]
        raise InputError(_path(err["loc"]), msg) from None
    cfg.check_secret()
    cfg.rules()  # the [clinical] table is checked now, not at the first assessment
    return cfg


def load_config(path: str | Path | None, *, demo: bool = False, overrides: dict[str, Any] | None = None) -> ServiceConfig:
    values = read_toml(path, "--config") if path is not None else {}
    if "demo" in values:
        raise InputError("demo", "unknown key (see docs/service.md; use maswatch serve --demo)")
    return parse_config({**values, **(overrides or {})}, demo=demo)
