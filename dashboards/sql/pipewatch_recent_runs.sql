-- pipewatch's own stages in the dashboard's time range, newest first: what ran, for which instance, how long, how it ended.
SELECT started_at AS "time", command, stage, airflow_instance, outcome, rows_read, rows_written,
       round(duration_seconds::numeric, 3) AS seconds, error_message, run_id
FROM ${schema:raw}.pipewatch_run_log
WHERE $__timeFilter(started_at)
ORDER BY run_log_id DESC
LIMIT 50
