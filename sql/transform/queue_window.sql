-- Queues every day of a backfill window for recompute, for one instance and for validation.
-- Grain: one row per day queued. Params: $1 airflow_instance, $2 first day, $3 last day.
WITH days AS (
    SELECT d::date AS day FROM generate_series($2::date, $3::date, interval '1 day') AS d
),
dag_days AS (
    INSERT INTO dag_run_pending_day (airflow_instance, day)
    SELECT $1::text, day FROM days
    ON CONFLICT DO NOTHING
)
INSERT INTO validation_pending_day (day)
SELECT day FROM days
ON CONFLICT DO NOTHING
