"""observations append-only in the database; a random id for the database

Revision ID: 0005_append_only
Revises: 0004_records
Create Date: 2026-12-04 13:30:00

Every version of an observation is a new row (the correction rule reads them all), so a stored
row never changes: the database now refuses UPDATE and DELETE on observations, as it does on the
audit log. The monitor relies on it: the rows up to one it has read are the same rows for as long
as their count is the same, so on a new result it reads only the rows after it
(``monitoring.stored``). The database id (``server_settings['database_id']``) tells one
database's rows from another's in that memo.
"""

import uuid

from alembic import op
from sqlalchemy import String, Text, column, table

revision = '0005_append_only'
down_revision = '0004_records'
branch_labels = None
depends_on = None

APPEND_ONLY = "observations are append-only: a correction is a new version (docs/evaluation-points.md §1)"


def upgrade() -> None:
    settings = table("server_settings", column("key", String), column("value", Text))
    op.bulk_insert(settings, [{"key": "database_id", "value": uuid.uuid4().hex}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION maswatch_observations_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$")
        op.execute("CREATE TRIGGER observations_append_only BEFORE UPDATE OR DELETE ON observations "
                   "FOR EACH ROW EXECUTE FUNCTION maswatch_observations_append_only()")
    else:
        for what in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER observations_no_{what.lower()} BEFORE {what} ON observations "
                       f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS observations_append_only ON observations")
        op.execute("DROP FUNCTION IF EXISTS maswatch_observations_append_only()")
    else:
        for what in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS observations_no_{what}")
    op.execute("DELETE FROM server_settings WHERE key = 'database_id'")
