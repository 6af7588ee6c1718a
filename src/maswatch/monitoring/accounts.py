"""Accounts: local users with argon2 password hashes, login with a rate limit kept in the
database (so it holds across workers), browser sessions and API tokens (stored hashed).
Services decide and write their audit rows; the caller commits.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..errors import InputError
from ..store import repo
from ..store.tables import ApiToken, User, WebSession
from .actors import Actor

if TYPE_CHECKING:  # the store owns SQLAlchemy; services only pass its Session on
    from sqlalchemy.orm import Session

ROLES = ("clinician", "admin")
MIN_PASSWORD_CHARS = 12
WEAK_PASSWORDS = frozenset({"password1234", "passwordpassword", "123456789012", "qwertyuiopas", "maswatchmaswatch",
                            "letmeinletmein", "adminadminadmin", "changemechangeme"})
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password: equalises the time of an unknown username")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def password_problem(username: str, password: str) -> str | None:
    """Why a password is refused, or None."""
    if not password or not password.strip():
        return "the password is empty"
    if len(password) < MIN_PASSWORD_CHARS:
        return f"at least {MIN_PASSWORD_CHARS} characters"
    low = password.lower()
    if low in WEAK_PASSWORDS or len(set(password)) < 4 or username.lower() in low:
        return "too easy to guess (a common password, repeated characters, or contains the username)"
    return None


def create_user(session: Session, username: str, password: str, role: str, actor: Actor, now: datetime) -> User:
    if not USERNAME.match(username or ""):
        raise InputError("username", "1-100 characters: letters, digits, '.', '_', '@' or '-', starting with a "
                         "letter or digit")
    if role not in ROLES:
        raise InputError("role", f"must be one of {', '.join(ROLES)}")
    problem = password_problem(username, password)
    if problem:
        raise InputError("password", problem)
    if repo.user_by_name(session, username) is not None:
        raise InputError("username", f"{username!r} already exists")
    user = repo.add_user(session, User(username=username, password_hash=_hasher.hash(password), role=role,
                                       disabled=False, created_at=now))
    repo.add_audit(session, at=now, actor=actor.name, user_id=actor.user_id, ip=actor.ip, action="user_added",
                   details={"username": username, "role": role})
    return user


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    refused: str | None = None
    """'credentials' or 'rate_limited' (the message shown never says which part was wrong)."""


def login(session: Session, username: str, password: str, ip: str | None, now: datetime, per_minute: int) -> LoginResult:
    """Check a login; failures are recorded (commit even when refused, so the limit counts them)."""
    since = now - timedelta(minutes=1)
    if (repo.login_failures_since(session, since, username=username) >= per_minute
            or (ip is not None and repo.login_failures_since(session, since, ip=ip) >= per_minute * 4)):
        repo.add_audit(session, at=now, actor=username[:100] or "-", ip=ip, action="login_rate_limited")
        return LoginResult(None, "rate_limited")
    user = repo.user_by_name(session, username)
    ok = False
    try:
        ok = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user.disabled:
        repo.add_login_failure(session, username[:100], ip, now)
        repo.add_audit(session, at=now, actor=username[:100] or "-", ip=ip, action="login_failed",
                       user_id=user.id if user else None)
        return LoginResult(None, "credentials")
    if _hasher.check_needs_rehash(user.password_hash):
        repo.set_password_hash(session, user.id, _hasher.hash(password))
    repo.add_audit(session, at=now, actor=user.username, user_id=user.id, ip=ip, action="login")
    return LoginResult(user)


def start_web_session(session: Session, user: User, now: datetime, hours: float) -> tuple[str, str]:
    """A new browser session: (cookie token, CSRF token). Only the token's hash is stored."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    repo.add_web_session(session, WebSession(user_id=user.id, token_hash=token_hash(token), csrf_token=csrf,
                                             created_at=now, expires_at=now + timedelta(hours=hours)))
    return token, csrf


def web_session_user(session: Session, token: str, now: datetime) -> tuple[User, WebSession] | None:
    ws = repo.web_session(session, token_hash(token))
    if ws is None or ws.expires_at <= now:
        return None
    user = session.get(User, ws.user_id)
    return None if user is None or user.disabled else (user, ws)


def end_web_session(session: Session, token: str, actor: Actor, now: datetime) -> None:
    repo.delete_web_session(session, token_hash(token))
    repo.add_audit(session, at=now, actor=actor.name, user_id=actor.user_id, ip=actor.ip, action="logout")


def issue_api_token(session: Session, user: User, now: datetime, hours: float, ip: str | None) -> tuple[str, datetime]:
    token = "msw_" + secrets.token_urlsafe(32)
    expires = now + timedelta(hours=hours)
    repo.add_api_token(session, ApiToken(user_id=user.id, token_hash=token_hash(token), created_at=now,
                                         expires_at=expires))
    repo.add_audit(session, at=now, actor=user.username, user_id=user.id, ip=ip, action="api_token_issued",
                   details={"expires_at": expires.isoformat()})
    return token, expires


def api_token_user(session: Session, token: str, now: datetime) -> User | None:
    row = repo.api_token(session, token_hash(token))
    if row is None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    return None if user is None or user.disabled else user


def set_disabled(session: Session, username: str, disabled: bool, actor: Actor, now: datetime) -> User:
    """Disable (or re-enable) an account; a disabled user's sessions and tokens stop working at once."""
    user = repo.user_by_name(session, username)
    if user is None:
        raise InputError("username", f"no user {username!r}")
    if disabled and actor.user_id == user.id:
        raise InputError("username", "you cannot disable your own account")
    user.disabled = disabled
    repo.add_audit(session, at=now, actor=actor.name, user_id=actor.user_id, ip=actor.ip,
                   action="user_disabled" if disabled else "user_enabled", details={"username": username})
    return user
