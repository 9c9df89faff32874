-- Serialises loads into one warehouse schema for the rest of the transaction, so two loads
-- never interleave their upserts and watermark updates.
-- Grain: one row. Params: $1 the warehouse schema name.
SELECT pg_advisory_xact_lock(hashtext('pipewatch load'), hashtext($1::text))
