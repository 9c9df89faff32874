-- Finished DAG runs per day in an Airflow 2 metadata database, for pipewatch reconcile: how
-- many, and a digest of what they are (each run's dag_id, run_id, state and end_date, in a
-- fixed order and collation), so a run whose state or end changed in Airflow and not in the
-- warehouse makes its day differ even when the counts match.
-- Grain: one row per day with at least one finished run.
-- Params: $1 reporting time zone (IANA name), $2 first day, $3 last day (dates, inclusive),
-- $4 count only runs Airflow last changed at or before this time (the clock of the newest
-- loaded extract), so runs that finished since the last load are not reported as missing.
-- Reads the window's runs; reconcile is an occasional check. The digest is computed the same
-- way as sql/reconcile/warehouse_finished_per_day.sql's.
SELECT (execution_date AT TIME ZONE $1::text)::date AS day,
       count(*)                                    AS finished_runs,
       md5(string_agg(dag_id || ' ' || run_id || ' ' || state || ' '
                      || coalesce(to_char(end_date AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '-'),
                      E'\n' ORDER BY dag_id COLLATE "C", run_id COLLATE "C")) AS digest
FROM dag_run
WHERE state IN ('success', 'failed')
  AND execution_date >= ($2::date::timestamp AT TIME ZONE $1::text)
  AND execution_date < (($3::date + 1)::timestamp AT TIME ZONE $1::text)
  AND (updated_at IS NULL OR updated_at <= $4::timestamptz)
GROUP BY 1
ORDER BY 1
