-- Records one whole stage at once, after it ended (used where the table could not be written
-- before the stage, e.g. migrate creating it).
-- Grain: one row per (run_id, stage[, airflow_instance]).
-- Params: $1 run_id, $2 command, $3 stage, $4 airflow_instance, $5 started_at, $6 outcome,
-- $7 rows_read, $8 rows_written, $9 task_rows_read, $10 task_rows_written, $11 error_message,
-- $12 pipewatch version, $13 hostname.
INSERT INTO pipewatch_run_log (run_id, command, stage, airflow_instance, started_at, ended_at,
                               outcome, rows_read, rows_written, task_rows_read,
                               task_rows_written, error_message, pipewatch_version, hostname)
VALUES ($1, $2, $3, $4, $5, clock_timestamp(), $6, $7, $8, $9, $10, $11, $12, $13)
