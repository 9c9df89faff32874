-- Records how one stage ended.
-- Grain: updates one row of pipewatch_run_log.
-- Params: $1 run_log_id, $2 outcome ('succeeded' or 'failed'), $3 rows_read, $4 rows_written,
-- $5 task_rows_read, $6 task_rows_written, $7 error_message (NULL on success).
UPDATE pipewatch_run_log
SET ended_at = clock_timestamp(),
    outcome = $2,
    rows_read = $3,
    rows_written = $4,
    task_rows_read = $5,
    task_rows_written = $6,
    error_message = $7
WHERE run_log_id = $1
