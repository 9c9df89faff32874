-- Which dag_run ids a backfill of a window of days reads on Airflow 2: every run whose logical
-- date falls in the window (days in the reporting time zone). Airflow has no index on
-- execution_date alone, so this reads the table once; backfills are one-shot.
-- Grain: one row per dag_run id.
-- Params: $1 reporting time zone, $2 first day, $3 last day (inclusive).
SELECT id
FROM dag_run
WHERE execution_date >= ($2::date::timestamp AT TIME ZONE $1::text)
  AND execution_date < (($3::date + 1)::timestamp AT TIME ZONE $1::text)
