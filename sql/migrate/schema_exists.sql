-- Whether pipewatch's schema exists (checked before CREATE SCHEMA, which needs a privilege the
-- role may lack once the schema exists).
-- Grain: one row. Params: $1 the schema name.
SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1::text) AS schema_exists
