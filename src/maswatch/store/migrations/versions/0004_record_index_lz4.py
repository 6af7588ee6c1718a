"""observations indexed by (patient, record id); assessments.data compressed with lz4 on PostgreSQL

Revision ID: 0004_records
Revises: 0003_family
Create Date: 2026-12-04 12:10:00

Every ingest of a known patient looks up the stored versions of the record ids it brings
(to skip a version re-sent unchanged): without this index, a scan of all the patient's rows.
An assessment row (~50 KB of JSON) is written on every new result; PostgreSQL's default
compression (pglz) took half of that INSERT's time, lz4 a tenth, for about the same size.
Where lz4 is not available (PostgreSQL before 14, or built without it) the column is left as
it was.
"""

from alembic import op


revision = '0004_records'
down_revision = '0003_family'
branch_labels = None
depends_on = None

_COMPRESSION = """
DO $$
BEGIN
    EXECUTE 'ALTER TABLE assessments ALTER COLUMN data SET COMPRESSION {method}';
EXCEPTION WHEN others THEN
    RAISE NOTICE 'assessments.data: compression {method} not available (%), left as it was', SQLERRM;
END
$$;
"""


def upgrade() -> None:
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.create_index('ix_observations_patient_id_record_id', ['patient_id', 'record_id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_COMPRESSION.format(method="lz4"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_COMPRESSION.format(method="pglz"))
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.drop_index('ix_observations_patient_id_record_id')
