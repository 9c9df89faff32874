-- The report's headline figures for one period: DAG runs and their outcomes and runtimes, and
-- validation executions and passes.
-- Grain: one row. Params: $1 airflow_instance or NULL for all, $2 first day, $3 last day
-- (inclusive; days in the reporting time zone), $4 reporting time zone, $5 and $6 the DAGs shown
-- (their instances and dag_ids, parallel arrays) or NULL for all (validation figures are never
-- filtered: tests belong to no DAG).
-- Runs come from dag_runs_on_days (the same day rule as every model); runtimes are of
-- successful runs, end_date - start_date; percentiles are exact (percentile_cont).
WITH instances AS (
    SELECT DISTINCT airflow_instance FROM dag_success_daily
    WHERE $1::text IS NULL OR airflow_instance = $1::text
),
pairs AS (
    SELECT i.airflow_instance, d::date AS day
    FROM instances AS i, generate_series($2::date, $3::date, interval '1 day') AS d
),
runs AS (
    SELECT r.state, r.runtime_seconds
    FROM dag_runs_on_days(ARRAY(SELECT airflow_instance FROM pairs ORDER BY 1, day),
                          ARRAY(SELECT day FROM pairs ORDER BY airflow_instance, 1), $4::text) AS r
    WHERE ($5::text[] IS NULL OR (r.airflow_instance, r.dag_id::text) IN (SELECT * FROM unnest($5::text[], $6::text[])))
),
validation AS (
    SELECT coalesce(sum(executions), 0)::bigint AS executions,
           coalesce(sum(passed), 0)::bigint     AS passed
    FROM validation_test_daily
    WHERE day BETWEEN $2::date AND $3::date
)
SELECT count(*) FILTER (WHERE state IN ('success', 'failed'))                   AS finished_runs,
       count(*) FILTER (WHERE state = 'success')                                AS successful_runs,
       count(*) FILTER (WHERE state = 'failed')                                 AS failed_runs,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY runtime_seconds)
           FILTER (WHERE state = 'success')                                     AS runtime_median_seconds,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY runtime_seconds)
           FILTER (WHERE state = 'success')                                     AS runtime_p95_seconds,
       (SELECT executions FROM validation)                                      AS validation_executions,
       (SELECT passed FROM validation)                                          AS validation_passed
FROM runs
