-- Successful runs with their runtimes, the newest first, over the days the runtime-regression
-- rule looks at.
-- Grain: one row per successful DAG run. Params: $1 first day, $2 reporting time zone.
SELECT airflow_instance, dag_id::text AS dag_id, run_id::text AS run_id, end_date,
       extract(epoch FROM end_date - start_date)::double precision AS runtime_seconds
FROM dag_run_history
WHERE state = 'success' AND start_date IS NOT NULL AND end_date IS NOT NULL
  AND coalesce(execution_date, run_after) >= ($1::date::timestamp AT TIME ZONE $2::text)
ORDER BY airflow_instance, dag_id, end_date DESC, run_id
