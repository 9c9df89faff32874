-- Whether the migrations table exists in pipewatch's schema (for read-only status checks).
-- Grain: one row. Params: $1 the schema name.
SELECT EXISTS (
    SELECT 1 FROM pg_tables
    WHERE schemaname = $1::text AND tablename = 'pipewatch_schema_migrations'
) AS table_exists
