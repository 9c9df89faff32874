-- Finished DAG runs per day in an Airflow 3 metadata database, for pipewatch reconcile. A run
-- without a logical date belongs to the day of its run_after.
-- Grain: one row per day with at least one finished run.
-- Params: $1 reporting time zone, $2 first day, $3 last day (inclusive), $4 count only runs
-- Airflow last changed at or before this time (the clock of the newest loaded extract).
SELECT (coalesce(logical_date, run_after) AT TIME ZONE $1::text)::date AS day,
       count(*)                                                       AS finished_runs
FROM dag_run
WHERE state IN ('success', 'failed')
  AND coalesce(logical_date, run_after) >= ($2::date::timestamp AT TIME ZONE $1::text)
  AND coalesce(logical_date, run_after) < (($3::date + 1)::timestamp AT TIME ZONE $1::text)
  AND (updated_at IS NULL OR updated_at <= $4::timestamptz)
GROUP BY 1
ORDER BY 1
