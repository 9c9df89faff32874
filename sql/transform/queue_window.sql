-- Queues the days of a backfill window that have something to recompute, for one instance and
-- for validation: days with DAG runs (or validation results) in the window, and days the daily
-- models hold in the window (a day whose runs are gone is recomputed to nothing). The work is
-- proportional to the data in the window, not to its length (a window of ten thousand years
-- over three months of runs queues about ninety days).
-- Grain: one row per day queued. Params: $1 airflow_instance, $2 first day, $3 last day
-- (inclusive), $4 reporting time zone.
WITH bounds AS (
    SELECT ($2::date::timestamp AT TIME ZONE $4::text)       AS low,
           (($3::date + 1)::timestamp AT TIME ZONE $4::text) AS high
),
dag_days AS (
    SELECT DISTINCT (coalesce(h.execution_date, h.run_after) AT TIME ZONE $4::text)::date AS day
    FROM dag_run_history AS h, bounds AS b
    WHERE h.airflow_instance = $1::text
      AND coalesce(h.execution_date, h.run_after) >= b.low
      AND coalesce(h.execution_date, h.run_after) < b.high
    UNION
    SELECT day FROM dag_success_daily
    WHERE airflow_instance = $1::text AND day BETWEEN $2::date AND $3::date
    UNION
    SELECT day FROM dag_runtime_daily
    WHERE airflow_instance = $1::text AND day BETWEEN $2::date AND $3::date
    UNION
    SELECT day FROM dag_delay_daily
    WHERE airflow_instance = $1::text AND day BETWEEN $2::date AND $3::date
    UNION
    SELECT day FROM task_daily
    WHERE airflow_instance = $1::text AND day BETWEEN $2::date AND $3::date
    UNION
    SELECT execution_date FROM dag_history_daily
    WHERE airflow_instance = $1::text AND execution_date BETWEEN $2::date AND $3::date
),
validation_days AS (
    SELECT DISTINCT (v.test_run_at AT TIME ZONE $4::text)::date AS day
    FROM validation_run_history AS v, bounds AS b
    WHERE v.test_run_at >= b.low AND v.test_run_at < b.high
    UNION
    SELECT test_date FROM validator_summary_daily WHERE test_date BETWEEN $2::date AND $3::date
    UNION
    SELECT day FROM validation_test_daily WHERE day BETWEEN $2::date AND $3::date
),
queued_dag_days AS (
    INSERT INTO dag_run_pending_day (airflow_instance, day)
    SELECT $1::text, day FROM dag_days
    ON CONFLICT DO NOTHING
)
INSERT INTO validation_pending_day (day)
SELECT day FROM validation_days
ON CONFLICT DO NOTHING
