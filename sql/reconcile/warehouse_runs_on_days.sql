-- Every DAG run of some days in dag_run_history for one Airflow instance, for pipewatch
-- reconcile to name the runs of a day that differs.
-- Grain: one row per DAG run. Params: $1 airflow_instance, $2 reporting time zone, $3 the days
-- (date[]).
SELECT (coalesce(execution_date, run_after) AT TIME ZONE $2::text)::date AS day,
       dag_id, run_id, state, end_date
FROM dag_run_history
WHERE airflow_instance = $1::text
  AND coalesce(execution_date, run_after)
      >= (SELECT min(d)::timestamp AT TIME ZONE $2::text FROM unnest($3::date[]) AS d)
  AND coalesce(execution_date, run_after)
      < (SELECT (max(d) + 1)::timestamp AT TIME ZONE $2::text FROM unnest($3::date[]) AS d)
  AND (coalesce(execution_date, run_after) AT TIME ZONE $2::text)::date = ANY ($3::date[])
