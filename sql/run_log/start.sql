-- Records the start of one stage of one pipewatch invocation.
-- Grain: one row per (run_id, stage[, airflow_instance]).
-- Params: $1 run_id, $2 command, $3 stage, $4 airflow_instance (NULL when not per instance),
-- $5 pipewatch version, $6 hostname. Returns run_log_id.
INSERT INTO pipewatch_run_log (run_id, command, stage, airflow_instance, started_at, outcome,
                               pipewatch_version, hostname)
VALUES ($1, $2, $3, $4, clock_timestamp(), 'running', $5, $6)
RETURNING run_log_id
