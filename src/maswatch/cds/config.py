"""The ``[cds_hooks]`` table of the service TOML (docs/service.md, docs/cds-hooks.md).

Strict: an unknown key is refused with its path, so a typo in a trust setting never
silently loosens it. The server's config model (``maswatch.web.config``) embeds it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ALLOWED_ALGS = ("ES256", "ES384", "RS256", "RS384")
"""CDS Hooks "Trusting CDS Clients": asymmetric signatures only (never ``none``, never HMAC)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrustedClient(_Strict):
    """One EHR allowed to call the service: its JWT issuer and where its public keys are."""

    iss: str = Field(min_length=1)
    jwks_url: str
    jku: tuple[str, ...] = ()
    """``jku`` header values this client may use (each a JWKS URL); absent = a token with ``jku`` is refused."""
    tenant: str | None = None
    """When set, the token's ``tenant`` claim must equal it."""

    @field_validator("jwks_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError(f"jwks_url must be an http(s) URL, got {v!r}")
        return v


class CdsHooksConfig(_Strict):
    clock_skew_seconds: float = Field(60, ge=0, le=600)
    cors_origins: tuple[str, ...] = ()
    clients: tuple[TrustedClient, ...] = ()
    jwks_cache_seconds: float = Field(3600, gt=0)
    """How long a fetched JWKS is trusted before it is fetched again."""
    jwks_min_refresh_seconds: float = Field(30, ge=0)
    """An unknown ``kid`` refetches the client's JWKS at most this often (no amplification)."""
    fhir_window_days: int | None = Field(None, ge=1, le=36500)
    """Observations fetched from ``fhirServer`` (prefetch absent) cover this many days back; absent:
    all of them, as the prefetch template asks (2.0.1 has no date token), so both paths assess alike."""
    max_body_bytes: int = Field(20_000_000, gt=0)

    @model_validator(mode="after")
    def _unique(self) -> "CdsHooksConfig":
        seen = [c.iss for c in self.clients]
        dup = sorted({i for i in seen if seen.count(i) > 1})
        if dup:
            raise ValueError(f"clients: issuer(s) listed twice: {', '.join(dup)}")
        return self


__all__ = ["ALLOWED_ALGS", "CdsHooksConfig", "TrustedClient"]
