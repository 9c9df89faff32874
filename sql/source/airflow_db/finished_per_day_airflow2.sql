-- Finished DAG runs per day in an Airflow 2 metadata database, for pipewatch reconcile.
-- Grain: one row per day with at least one finished run.
-- Params: $1 reporting time zone (IANA name), $2 first day, $3 last day (dates, inclusive),
-- $4 count only runs Airflow last changed at or before this time (the clock of the newest
-- loaded extract), so runs that finished since the last load are not reported as missing.
-- Reads the whole dag_run table (no index serves this); reconcile is an occasional check.
SELECT (execution_date AT TIME ZONE $1::text)::date AS day,
       count(*)                                    AS finished_runs
FROM dag_run
WHERE state IN ('success', 'failed')
  AND execution_date >= ($2::date::timestamp AT TIME ZONE $1::text)
  AND execution_date < (($3::date + 1)::timestamp AT TIME ZONE $1::text)
  AND (updated_at IS NULL OR updated_at <= $4::timestamptz)
GROUP BY 1
ORDER BY 1
