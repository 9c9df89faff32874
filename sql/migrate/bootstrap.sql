-- Creates the table recording applied migrations, if it is missing.
-- Grain: one row per applied migration (version). Params: none.
-- Run inside the migration transaction, under the migration advisory lock, with search_path set
-- to pipewatch's schema.
CREATE TABLE IF NOT EXISTS pipewatch_schema_migrations (
    version           integer     NOT NULL PRIMARY KEY,
    name              text        NOT NULL,
    checksum_sha256   text        NOT NULL,
    applied_at        timestamptz NOT NULL DEFAULT now(),
    applied_by_run_id uuid        NOT NULL
);
COMMENT ON TABLE pipewatch_schema_migrations IS
    'Schema migrations pipewatch has applied to this schema, with the SHA-256 of each file''s text: pipewatch refuses to run when an applied migration was edited.';
COMMENT ON COLUMN pipewatch_schema_migrations.version IS 'The migration''s number (the file name''s prefix).';
COMMENT ON COLUMN pipewatch_schema_migrations.name IS 'The migration''s file name in sql/schema/.';
COMMENT ON COLUMN pipewatch_schema_migrations.checksum_sha256 IS 'Hex SHA-256 of the migration''s text as applied.';
COMMENT ON COLUMN pipewatch_schema_migrations.applied_at IS 'When the migration was applied (UTC).';
COMMENT ON COLUMN pipewatch_schema_migrations.applied_by_run_id IS 'Run id of the pipewatch invocation that applied it.';
