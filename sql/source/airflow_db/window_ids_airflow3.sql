-- Which dag_run ids a backfill of a window of days reads on Airflow 3: every run whose logical
-- date (run_after when NULL) falls in the window (days in the reporting time zone).
-- Grain: one row per dag_run id.
-- Params: $1 reporting time zone, $2 first day, $3 last day (inclusive).
SELECT id
FROM dag_run
WHERE coalesce(logical_date, run_after) >= ($2::date::timestamp AT TIME ZONE $1::text)
  AND coalesce(logical_date, run_after) < (($3::date + 1)::timestamp AT TIME ZONE $1::text)
