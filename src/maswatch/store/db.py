"""Engines and sessions from a ``database_url`` (docs/service.md).

SQLite (the default, one file): WAL journal so readers never block the writer, foreign
keys on, a busy timeout instead of an immediate "database is locked", and real
transactions (pysqlite's own implicit BEGIN is turned off so SAVEPOINTs work).
PostgreSQL: ``postgresql://`` URLs are served by psycopg 3.

JSON columns are written and read with orjson on both (a 2,000-observation timeline is 2,000
rows to decode, an assessment ~50 KB to encode: the standard library's json was most of the
cost of a re-assessment). What json accepted, orjson is made to accept the same way: non-str
keys become strings, float subclasses (numpy.float64) are floats; what json refused (numpy
integers, datetimes, dataclasses) is still a TypeError. One difference: a NaN is written as
null where json wrote the non-standard ``NaN`` token (which PostgreSQL refused anyway); the
strict readers refuse non-finite numbers before anything is stored.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import InputError

SQLITE_BUSY_MS = 10_000
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _json_default(obj):
    if isinstance(obj, float):  # numpy.float64 and other float subclasses: json wrote them as floats
        return float(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def json_bytes(obj) -> bytes:
    """A JSON column's value as UTF-8 JSON (psycopg takes bytes)."""
    return orjson.dumps(obj, default=_json_default, option=_JSON_OPTIONS)


def json_text(obj) -> str:
    """The same as text (SQLite stores JSON columns as TEXT: bytes would become a BLOB)."""
    return orjson.dumps(obj, default=_json_default, option=_JSON_OPTIONS).decode()


def json_loads(data):
    """orjson; rows orjson cannot read (json's ``NaN`` token, integers beyond 64 bits, written by
    earlier versions) are read by json as before."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3; anything else is passed as given."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(database_url: str, **kw) -> Engine:
    """An engine for ``database_url``; a bad URL is an InputError naming ``database_url``."""
    try:
        url = make_url(normalise_url(database_url))
    except ArgumentError:
        raise InputError("database_url", f"not a database URL: {database_url!r} "
                         "(e.g. sqlite:///maswatch.db or postgresql://user@host/db)") from None
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            parent = Path(url.database).expanduser().resolve().parent
            if not parent.is_dir():
                raise InputError("database_url", f"the directory {parent} does not exist")
        engine = create_engine(url, json_serializer=json_text, json_deserializer=json_loads, **kw)
        _sqlite_pragmas(engine)
        return engine
    if url.get_backend_name() != "postgresql":
        raise InputError("database_url", f"unsupported database {url.get_backend_name()!r}: use sqlite or postgresql")
    return create_engine(url, pool_pre_ping=True, json_serializer=json_bytes, json_deserializer=json_loads, **kw)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed transaction survives a process crash
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit at the end, roll back on any error (the caller owns it)."""
    with factory() as session, session.begin():
        yield session


_AFTER_COMMIT = "maswatch.after_commit"


def database_key(session: Session) -> str | None:
    """The URL of the database when the session commits its own transactions (bound to an engine,
    as ``session_factory`` makes it); None when it is joined to a transaction someone else ends
    (its commit is then not durable, so nothing may be remembered as committed)."""
    bind = session.get_bind()
    return bind.url.render_as_string(hide_password=True) if isinstance(bind, Engine) else None


def after_commit(session: Session, fn) -> None:
    """Call ``fn()`` once the session's current transaction has committed, never if it rolls back
    (a memo of what the database holds may keep only what is committed). ``fn`` must not raise."""
    session.info.setdefault(_AFTER_COMMIT, []).append(fn)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for fn in session.info.pop(_AFTER_COMMIT, ()):
        fn()


@event.listens_for(Session, "after_transaction_end")
def _forget_after_rollback(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended without a commit: drop its callbacks
        session.info.pop(_AFTER_COMMIT, None)
