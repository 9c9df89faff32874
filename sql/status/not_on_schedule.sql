-- The DAGs that do not run as scheduled at the last catalogue reading of their instance (view
-- dag_schedule_status, migration 0014), for pipewatch status: most urgent kinds first.
-- Grain: one row per (airflow_instance, dag_id) whose status is not on_schedule. Params: none.
SELECT airflow_instance, dag_id, status, since, detail, owners::text[] AS owners, as_of
FROM dag_schedule_status
WHERE status <> 'on_schedule'
ORDER BY array_position(ARRAY['scheduler_down', 'blocked', 'overdue', 'import_error', 'stale',
                              'paused', 'unscheduled'], status),
         airflow_instance, dag_id
