"""CSRF protection for every form.

Signed-in: a synchronizer token per session (stored with the session), sent back in the
form field ``csrf_token`` or the ``X-CSRF-Token`` header. Before sign-in (the login form):
a signed double-submit — a random cookie and, in the form, its HMAC under the server key.
Bearer-token API calls carry no cookie and are exempt.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PRE_COOKIE = "maswatch_pre"
FIELD = "csrf_token"
HEADER = "x-csrf-token"


def new_pre_token() -> str:
    return secrets.token_urlsafe(32)


def sign(secret_key: str, value: str) -> str:
    return hmac.new(secret_key.encode(), b"csrf:" + value.encode(), hashlib.sha256).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())
