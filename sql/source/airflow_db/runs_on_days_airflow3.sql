-- Every DAG run of some days in an Airflow 3 metadata database, for pipewatch reconcile to name
-- the runs of a day that differs: finished or not, with when Airflow last changed it.
-- Grain: one row per DAG run. Params: $1 reporting time zone, $2 the days (date[]).
SELECT (coalesce(logical_date, run_after) AT TIME ZONE $1::text)::date AS day,
       dag_id, run_id, state, end_date, updated_at
FROM dag_run
WHERE coalesce(logical_date, run_after) >= (SELECT min(d)::timestamp AT TIME ZONE $1::text FROM unnest($2::date[]) AS d)
  AND coalesce(logical_date, run_after) < (SELECT (max(d) + 1)::timestamp AT TIME ZONE $1::text FROM unnest($2::date[]) AS d)
  AND (coalesce(logical_date, run_after) AT TIME ZONE $1::text)::date = ANY ($2::date[])
