-- After an instance's first load (straight COPY): queues every day that instance has runs on.
-- Grain: one row per (airflow_instance, day) queued. Params: $1 airflow_instance, $2 reporting
-- time zone.
INSERT INTO dag_run_pending_day (airflow_instance, day)
SELECT DISTINCT airflow_instance,
       (coalesce(execution_date, run_after) AT TIME ZONE $2::text)::date
FROM dag_run_history
WHERE airflow_instance = $1::text
  AND coalesce(execution_date, run_after) IS NOT NULL
ON CONFLICT DO NOTHING
