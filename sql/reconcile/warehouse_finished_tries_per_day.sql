-- Finished task tries per day in task_run_history for one Airflow instance, for pipewatch
-- reconcile: the day is the day of the try's DAG run (its logical date, run_after when NULL, in
-- the reporting time zone). Tries of the runs reconcile found gone from Airflow (removed there
-- by `airflow db clean` or with their DAG, and kept in the warehouse) are counted apart: they
-- are no difference, as their runs are none.
-- Grain: one row per day with at least one finished try.
-- Params: $1 airflow_instance, $2 reporting time zone, $3 first day, $4 last day (inclusive),
-- $5 text[] and $6 text[]: dag_id and run_id of the runs gone from Airflow (element by element).
WITH gone AS (
    SELECT g.dag_id, g.run_id FROM unnest($5::text[], $6::text[]) AS g(dag_id, run_id)
)
SELECT (coalesce(r.execution_date, r.run_after) AT TIME ZONE $2::text)::date AS day,
       count(*) FILTER (WHERE gone.run_id IS NULL)                          AS finished_tries,
       count(*) FILTER (WHERE gone.run_id IS NOT NULL)                      AS gone_tries
FROM dag_run_history AS r
JOIN task_run_history AS t
  ON t.airflow_instance = r.airflow_instance AND t.dag_id = r.dag_id AND t.run_id = r.run_id
LEFT JOIN gone ON gone.dag_id = r.dag_id AND gone.run_id = r.run_id
WHERE r.airflow_instance = $1::text
  AND t.state IN ('success', 'failed', 'skipped', 'upstream_failed')
  AND coalesce(r.execution_date, r.run_after) >= ($3::date::timestamp AT TIME ZONE $2::text)
  AND coalesce(r.execution_date, r.run_after) < (($4::date + 1)::timestamp AT TIME ZONE $2::text)
GROUP BY 1
ORDER BY 1
