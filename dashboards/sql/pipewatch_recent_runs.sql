-- pipewatch's own recent stages: what ran, for which instance, how long, how it ended.
SELECT started_at AS "time", command, stage, airflow_instance, outcome, rows_read, rows_written,
       round(duration_seconds::numeric, 3) AS seconds, error_message, run_id
FROM pipewatch.pipewatch_run_log
ORDER BY run_log_id DESC
LIMIT 50
