-- Finished DAG runs per day in dag_run_history for one Airflow instance, for pipewatch
-- reconcile: how many, and the same digest of what they are as the source's
-- (sql/source/airflow_db/finished_per_day_airflow2.sql). The day of a run is the date of its
-- logical date (run_after when NULL) in the reporting time zone.
-- Grain: one row per day with at least one finished run.
-- Params: $1 airflow_instance, $2 reporting time zone, $3 first day, $4 last day (inclusive).
SELECT (coalesce(execution_date, run_after) AT TIME ZONE $2::text)::date AS day,
       count(*)                                                         AS finished_runs,
       md5(string_agg(dag_id || ' ' || run_id || ' ' || state || ' '
                      || coalesce(to_char(end_date AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '-'),
                      E'\n' ORDER BY dag_id COLLATE "C", run_id COLLATE "C")) AS digest
FROM dag_run_history
WHERE airflow_instance = $1::text
  AND state IN ('success', 'failed')
  AND coalesce(execution_date, run_after) >= ($3::date::timestamp AT TIME ZONE $2::text)
  AND coalesce(execution_date, run_after) < (($4::date + 1)::timestamp AT TIME ZONE $2::text)
GROUP BY 1
ORDER BY 1
