-- Tries to take the session-level advisory lock that keeps two pipewatch invocations from
-- moving DAG runs or recomputing models in the same warehouse schema at once. PostgreSQL
-- releases it when the session ends, so a killed holder never leaves a stale lock.
-- Grain: one row (true when taken). Params: $1 the warehouse schema name.
SELECT pg_try_advisory_lock(hashtext('pipewatch run'), hashtext($1::text)) AS taken
