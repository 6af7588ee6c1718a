"""CDS Hooks 2.0.1 "Trusting CDS Clients": verify the EHR's bearer JWT on every call.

Checks, in order (any failure -> :class:`Refused`, which the router turns into a bare 401):
``Authorization: Bearer <jwt>``; header ``alg`` in ES256/ES384/RS256/RS384 (never ``none``,
never HMAC: an HS256 token signed with the public key as its secret is refused before any
key is touched); ``kid`` present; ``iss`` on the allow-list; a ``jku`` header only if that
client lists it; the key found by ``kid`` in the client's JWKS (fetched with httpx, cached,
refetched on an unknown ``kid`` at most every ``jwks_min_refresh_seconds``); signature;
``aud`` exactly the URL called; ``exp`` and ``iat`` present and within the clock skew;
``jti`` present and never seen before (kept until the token expires); ``tenant`` matching
the client's when configured. The reason is logged for the operator, never sent back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import httpx
import jwt

from .config import ALLOWED_ALGS, CdsHooksConfig, TrustedClient

log = logging.getLogger("maswatch.cds.auth")
MAX_TOKEN_CHARS = 16_384
MAX_JWKS_BYTES = 1_000_000


class Refused(Exception):
    """The call is not trusted. ``reason`` is for the server log only."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Caller:
    """Who called: the verified token's claims that matter."""

    iss: str
    sub: str | None
    jti: str
    exp: int
    tenant: str | None


class JtiStore(Protocol):
    def remember(self, iss: str, jti: str, expires_at: float) -> bool:
        """Record a token id; False if it was already recorded (a replay)."""


class MemoryJtiStore:
    """A process-local jti store (tests; a single-process server without a database)."""

    def __init__(self):
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def remember(self, iss: str, jti: str, expires_at: float) -> bool:
        now = time.time()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
            if (iss, jti) in self._seen:
                return False
            self._seen[(iss, jti)] = expires_at
            return True


class JwksCache:
    """Public keys of the trusted clients, by JWKS URL and ``kid``."""

    def __init__(self, *, ttl: float = 3600, min_refresh: float = 30, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, transport: httpx.BaseTransport | None = None):
        self.ttl, self.min_refresh, self.clock = ttl, min_refresh, clock
        self._keys: dict[str, tuple[float, dict[str, jwt.PyJWK]]] = {}
        self._last_fetch: dict[str, float] = {}
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    def key(self, url: str, kid: str) -> jwt.PyJWK:
        now = self.clock()
        with self._lock:
            hit = self._keys.get(url)
            if hit and now - hit[0] < self.ttl and kid in hit[1]:
                return hit[1][kid]
            stale = hit is None or now - hit[0] >= self.ttl
            if not stale and now - self._last_fetch.get(url, -1e18) < self.min_refresh:
                raise Refused(f"unknown kid {kid!r} (JWKS refetch rate-limited)")
            self._last_fetch[url] = now
        keys = self._fetch(url)
        with self._lock:
            self._keys[url] = (now, keys)
        if kid not in keys:
            raise Refused(f"unknown kid {kid!r} in {url}")
        return keys[kid]

    def _fetch(self, url: str) -> dict[str, jwt.PyJWK]:
        try:
            resp = self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise Refused(f"JWKS {url} unreachable: {type(exc).__name__}") from None
        if resp.status_code != 200 or len(resp.content) > MAX_JWKS_BYTES:
            raise Refused(f"JWKS {url} answered {resp.status_code} ({len(resp.content)} bytes)")
        try:
            keys = resp.json()["keys"]
        except (ValueError, KeyError, TypeError):
            raise Refused(f"JWKS {url} is not a JWK Set") from None
        out = {}
        for k in keys if isinstance(keys, list) else []:
            if not isinstance(k, dict) or not isinstance(k.get("kid"), str) or k.get("kty") not in ("RSA", "EC"):
                continue  # symmetric ("oct") or unnamed keys are never used
            try:
                out[k["kid"]] = jwt.PyJWK(k)
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
                log.warning("JWKS %s: key %r could not be loaded", url, k.get("kid"))
        return out


class Verifier:
    def __init__(self, config: CdsHooksConfig, jti_store: JtiStore, jwks: JwksCache | None = None,
                 clock: Callable[[], float] = time.time):
        self.config = config
        self.clients: dict[str, TrustedClient] = {c.iss: c for c in config.clients}
        self.jti_store = jti_store
        self.jwks = jwks or JwksCache(ttl=config.jwks_cache_seconds, min_refresh=config.jwks_min_refresh_seconds)
        self.clock = clock

    def verify(self, authorization: str | None, audience: str) -> Caller:
        if not authorization or not authorization.startswith("Bearer "):
            raise Refused("no bearer token")
        token = authorization[len("Bearer "):].strip()
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise Refused("empty or oversized token")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Refused(f"malformed token: {exc}") from None
        alg = header.get("alg")
        if alg not in ALLOWED_ALGS:
            raise Refused(f"alg {alg!r} not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Refused("no kid")
        iss = unverified.get("iss")
        client = self.clients.get(iss) if isinstance(iss, str) else None
        if client is None:
            raise Refused(f"untrusted iss {iss!r}")
        jku = header.get("jku")
        if jku is not None and jku not in client.jku:
            raise Refused(f"jku {jku!r} not allowed for {iss}")
        key = self.jwks.key(jku or client.jwks_url, kid)
        key_alg = getattr(key, "_jwk_data", {}).get("alg")
        if key_alg is not None and key_alg != alg:
            raise Refused(f"key {kid!r} is for {key_alg}, the token says {alg}")
        skew = self.config.clock_skew_seconds
        try:
            claims = jwt.decode(token, key.key, algorithms=[alg], audience=audience, issuer=iss, leeway=skew,
                                options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        except jwt.PyJWTError as exc:
            raise Refused(f"{type(exc).__name__}: {exc}") from None
        now = self.clock()
        iat, exp = claims["iat"], claims["exp"]
        if not isinstance(iat, (int, float)) or iat > now + skew:
            raise Refused("iat in the future")
        if not isinstance(exp, (int, float)) or exp + skew < now:
            raise Refused("expired")
        if isinstance(claims["aud"], list) and claims["aud"] != [audience]:
            raise Refused("aud lists other audiences")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise Refused("no jti")
        tenant = claims.get("tenant")
        if client.tenant is not None and tenant != client.tenant:
            raise Refused(f"tenant {tenant!r} is not {client.tenant!r}")
        if not self.jti_store.remember(iss, jti, float(exp) + skew):
            raise Refused(f"jti {jti!r} replayed")
        return Caller(iss=iss, sub=claims.get("sub"), jti=jti, exp=int(exp), tenant=tenant)


def jwks_of(*public_jwks: dict) -> str:
    """A JWK Set JSON (helper for mock EHRs in tests and the benchmark)."""
    return json.dumps({"keys": list(public_jwks)})


__all__ = ["Caller", "JtiStore", "JwksCache", "MemoryJtiStore", "Refused", "Verifier", "jwks_of"]
