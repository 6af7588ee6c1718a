"""Persistence: the only package that imports SQLAlchemy (docs/service.md).

``db`` makes engines and sessions, ``tables`` declares the rows, ``repo`` holds the
queries (each takes a Session; none commits: the caller owns the transaction), and
``migrations`` is the Alembic environment shipped in the package.
"""
