-- The failed runs of one DAG on one day, the newest first, for an alert's run context.
-- Grain: one row per failed run (at most 5). Params: $1 airflow_instance, $2 dag_id, $3 day,
-- $4 reporting time zone.
SELECT run_id::text AS run_id
FROM dag_run_history
WHERE airflow_instance = $1::text AND dag_id = $2::text AND state = 'failed'
  AND coalesce(execution_date, run_after) >= ($3::date::timestamp AT TIME ZONE $4::text)
  AND coalesce(execution_date, run_after) < (($3::date + 1)::timestamp AT TIME ZONE $4::text)
ORDER BY coalesce(execution_date, run_after) DESC, run_id
LIMIT 5
