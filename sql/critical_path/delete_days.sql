-- Deletes the critical paths of the runs of some days, and critical_path_daily's rows of those
-- days, before the transform computes them again (every day when full).
-- Grain: deletes dag_run_critical_path, dag_run_critical_path_run and critical_path_daily rows. Params: $1 text[]
-- instances and $2 date[] days (pairs), $3 boolean: every day. Returns: one row, the runs deleted.
WITH steps AS (
    DELETE FROM dag_run_critical_path AS s
    USING unnest($1::text[], $2::date[]) AS p (airflow_instance, day)
    WHERE NOT $3::boolean AND s.airflow_instance = p.airflow_instance AND s.day = p.day
),
all_steps AS (
    DELETE FROM dag_run_critical_path WHERE $3::boolean
),
daily AS (
    DELETE FROM critical_path_daily AS d
    USING unnest($1::text[], $2::date[]) AS p (airflow_instance, day)
    WHERE NOT $3::boolean AND d.airflow_instance = p.airflow_instance AND d.day = p.day
),
all_daily AS (
    DELETE FROM critical_path_daily WHERE $3::boolean
),
runs AS (
    DELETE FROM dag_run_critical_path_run AS r
    USING unnest($1::text[], $2::date[]) AS p (airflow_instance, day)
    WHERE NOT $3::boolean AND r.airflow_instance = p.airflow_instance AND r.day = p.day
    RETURNING 1
),
all_runs AS (
    DELETE FROM dag_run_critical_path_run WHERE $3::boolean RETURNING 1
)
SELECT (SELECT count(*) FROM runs) + (SELECT count(*) FROM all_runs) AS deleted
