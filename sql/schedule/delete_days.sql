-- Deletes an instance's dag_schedule_daily and dag_schedule_missed rows of some days (or all
-- of them, for a full refresh) before they are computed again, in the same transaction.
-- Grain: deletes rows. Params: $1 airflow_instance, $2 date[] the days, $3 boolean: all days.
WITH daily AS (
    DELETE FROM dag_schedule_daily
    WHERE airflow_instance = $1::text AND ($3::boolean OR day = ANY ($2::date[]))
    RETURNING 1
),
missed AS (
    DELETE FROM dag_schedule_missed
    WHERE airflow_instance = $1::text AND ($3::boolean OR day = ANY ($2::date[]))
    RETURNING 1
)
SELECT (SELECT count(*) FROM daily) AS daily, (SELECT count(*) FROM missed) AS missed
