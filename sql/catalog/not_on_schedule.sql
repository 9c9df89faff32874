-- The DAGs that do not run as scheduled at the last catalogue reading of their instance (view
-- dag_schedule_status, migration 0014), for pipewatch status and the report: most urgent kinds
-- first, DAGs without a schedule last.
-- Grain: one row per (airflow_instance, dag_id) whose status is not on_schedule. Params: $1
-- airflow_instance or NULL for all, $2 and $3 the DAGs shown (their instances and dag_ids,
-- parallel arrays) or NULL for all.
SELECT airflow_instance, dag_id, status, since, detail, owners::text[] AS owners, as_of
FROM dag_schedule_status
WHERE status <> 'on_schedule'
  AND ($1::text IS NULL OR airflow_instance = $1::text)
  AND ($2::text[] IS NULL OR (airflow_instance, dag_id::text) IN (SELECT * FROM unnest($2::text[], $3::text[])))
ORDER BY array_position(ARRAY['scheduler_down', 'blocked', 'overdue', 'import_error', 'stale',
                              'paused', 'unscheduled'], status),
         airflow_instance, dag_id
