-- Finished task tries per day in task_run_history for one Airflow instance, for pipewatch
-- reconcile: the day is the day of the try's DAG run (its logical date, run_after when NULL, in
-- the reporting time zone).
-- Grain: one row per day with at least one finished try.
-- Params: $1 airflow_instance, $2 reporting time zone, $3 first day, $4 last day (inclusive).
SELECT (coalesce(r.execution_date, r.run_after) AT TIME ZONE $2::text)::date AS day,
       count(*)                                                             AS finished_tries
FROM dag_run_history AS r
JOIN task_run_history AS t
  ON t.airflow_instance = r.airflow_instance AND t.dag_id = r.dag_id AND t.run_id = r.run_id
WHERE r.airflow_instance = $1::text
  AND t.state IN ('success', 'failed', 'skipped', 'upstream_failed')
  AND coalesce(r.execution_date, r.run_after) >= ($3::date::timestamp AT TIME ZONE $2::text)
  AND coalesce(r.execution_date, r.run_after) < (($4::date + 1)::timestamp AT TIME ZONE $2::text)
GROUP BY 1
ORDER BY 1
