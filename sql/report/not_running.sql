-- The DAGs that do not run as scheduled at the last catalogue reading (view dag_schedule_status),
-- for the report's first section: most urgent kinds first; DAGs without a schedule left out.
-- Grain: one row per (airflow_instance, dag_id) not on schedule. Params: $1 airflow_instance or
-- NULL for all.
SELECT airflow_instance, dag_id, status, since, detail, owners::text[] AS owners, as_of
FROM dag_schedule_status
WHERE status NOT IN ('on_schedule', 'unscheduled')
  AND ($1::text IS NULL OR airflow_instance = $1::text)
ORDER BY array_position(ARRAY['scheduler_down', 'blocked', 'overdue', 'import_error', 'stale',
                              'paused'], status),
         airflow_instance, dag_id
