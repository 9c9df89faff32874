-- The last successful run of each stage of each command (per Airflow instance where the stage
-- works per instance), for the Prometheus metrics: when it ended, how long it took, the rows it
-- read and wrote.
-- Grain: one row per (command, stage, airflow_instance) with a succeeded row in
-- pipewatch_run_log; airflow_instance '' for stages that are not per instance. Params: none.
SELECT DISTINCT ON (command, stage, airflow_instance)
       command,
       stage,
       coalesce(airflow_instance, '') AS airflow_instance,
       ended_at,
       duration_seconds,
       rows_read,
       rows_written,
       task_rows_read,
       task_rows_written
FROM pipewatch_run_log
WHERE outcome = 'succeeded' AND ended_at IS NOT NULL
ORDER BY command, stage, airflow_instance, run_log_id DESC
