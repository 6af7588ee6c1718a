"""Database fixtures for the persistence, monitor and API tests, on SQLite AND PostgreSQL.

Import them into a test module (``from dbfix import *``). One migrated database per
backend per test process; ``session`` runs each test inside a SAVEPOINT that is rolled
back (warehouse's ``join_transaction_mode="create_savepoint"``); ``fresh_db_url`` gives a
new migrated database for tests that need real commits (subprocesses, the web app).
"""

from __future__ import annotations

import atexit
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

import pg
from maswatch.store import migrate
from maswatch.store.db import make_engine

BACKENDS = ("sqlite", "postgresql")
_state: dict = {}


def _cluster() -> pg.Cluster:
    if "cluster" not in _state:
        _state["cluster"] = pg.start_cluster()  # fails loudly with the apt command when absent
        atexit.register(_state["cluster"].stop)
    return _state["cluster"]


def _template(backend: str, tmp_root: Path) -> str:
    """A migrated template database (created once per process and backend)."""
    key = f"template-{backend}"
    if key not in _state:
        if backend == "sqlite":
            path = tmp_root / f"template-{uuid.uuid4().hex[:8]}.db"
            e = make_engine(f"sqlite:///{path}")
            migrate.upgrade(e)
            e.dispose()
            _state[key] = str(path)
        else:
            url = _cluster().create_database()
            e = make_engine(url)
            migrate.upgrade(e)
            e.dispose()
            _state[key] = url.rsplit("/", 1)[1]
    return _state[key]


def new_database(backend: str, tmp_path: Path) -> str:
    """A fresh migrated database URL."""
    tpl = _template(backend, tmp_path.parent)
    if backend == "sqlite":
        path = tmp_path / f"maswatch-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(tpl, path)
        return f"sqlite:///{path}"
    return _cluster().create_database(template=tpl)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def fresh_db_url(backend, tmp_path) -> str:
    return new_database(backend, tmp_path)


@pytest.fixture
def engine(backend, tmp_path_factory):
    key = f"engine-{backend}"
    if key not in _state:
        _state[key] = make_engine(new_database(backend, tmp_path_factory.mktemp("db")))
    return _state[key]


@pytest.fixture
def connection(engine):
    conn = engine.connect()
    trans = conn.begin()
    yield conn
    trans.rollback()
    conn.close()


@pytest.fixture
def session_factory(connection) -> sessionmaker[Session]:
    """Sessions joined to the test's outer transaction: their commits are savepoints, rolled back at the end."""
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def session(session_factory):
    with session_factory() as s:
        yield s


__all__ = ["backend", "connection", "engine", "fresh_db_url", "new_database", "session", "session_factory"]
