-- The daily outcomes of every DAG over the days the alert rules look at (success-rate drop and
-- landing deadline).
-- Grain: one row per (airflow_instance, dag_id, day) with runs. Params: $1 first day, $2 last
-- day (inclusive, reporting time zone).
SELECT airflow_instance, dag_id::text AS dag_id, day, finished_runs, successful_runs, failed_runs
FROM dag_success_daily
WHERE day BETWEEN $1::date AND $2::date
ORDER BY airflow_instance, dag_id, day
