-- Takes the transaction-level advisory lock that serialises migrations of one schema, so two
-- pipewatch processes starting at once cannot both apply the same migration.
-- Grain: one row. Params: $1 the schema name.
SELECT pg_advisory_xact_lock(hashtext('pipewatch migrate'), hashtext($1::text))
