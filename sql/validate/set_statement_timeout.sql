-- Limits how long each statement of the current (read-only) transaction may run.
-- Grain: one row. Params: $1 the timeout in milliseconds, as text ('0' for no limit).
SELECT set_config('statement_timeout', $1::text, true)
