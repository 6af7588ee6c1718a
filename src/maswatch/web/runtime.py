"""What the app holds while it runs: configuration, rules, engine, session factory, clock."""

from __future__ import annotations

import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from ..errors import MaswatchError
from ..monitoring.actors import Clock
from ..rules import Rules
from ..store import migrate, repo
from ..store.db import make_engine, session_factory
from .config import ServiceConfig

if TYPE_CHECKING:  # the store owns SQLAlchemy
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

SECRET_SETTING = "secret_key"


class SchemaBehind(MaswatchError):
    pass


@dataclass
class Runtime:
    config: ServiceConfig
    rules: Rules
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    secret_key: str

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work, committed before the response is sent (the route owns it)."""
        with self.sessions() as s, s.begin():
            yield s


def prepare_database(engine: Engine) -> None:
    """Upgrade a fresh database to the current schema; refuse to run on an older one."""
    current = migrate.current_revision(engine)
    if current is None:
        migrate.upgrade(engine)
    elif current != migrate.head_revision():
        raise SchemaBehind(f"the database schema is at revision {current}, this maswatch needs "
                           f"{migrate.head_revision()}: back it up, then run 'maswatch db upgrade --config FILE'")


def secret_key(sessions: sessionmaker[Session], configured: str | None) -> str:
    """The configured key, else one generated once and kept in the database."""
    if configured:
        return configured
    with sessions() as s, s.begin():
        key = repo.server_setting(s, SECRET_SETTING)
        if key is None:
            key = secrets.token_urlsafe(48)
            repo.set_server_setting(s, SECRET_SETTING, key)
    return key


def open_runtime(config: ServiceConfig, clock: Clock) -> Runtime:
    engine = make_engine(config.database_url)
    try:
        prepare_database(engine)
        sessions = session_factory(engine)
        return Runtime(config, config.rules(), engine, sessions, clock, secret_key(sessions, config.secret_key))
    except BaseException:
        engine.dispose()
        raise
