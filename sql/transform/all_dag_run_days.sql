-- Every (instance, day) that has DAG runs, for a full refresh. Reads all of dag_run_history.
-- Grain: one row per (airflow_instance, day). Params: $1 reporting time zone.
SELECT DISTINCT airflow_instance,
       (coalesce(execution_date, run_after) AT TIME ZONE $1::text)::date AS day
FROM dag_run_history
WHERE coalesce(execution_date, run_after) IS NOT NULL
