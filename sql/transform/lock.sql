-- Serialises transforms of one warehouse schema for the rest of the transaction.
-- Grain: one row. Params: $1 the warehouse schema name.
SELECT pg_advisory_xact_lock(hashtext('pipewatch transform'), hashtext($1::text))
