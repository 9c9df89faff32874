-- After an instance's first task load (straight COPY into task_run_history): queues the day of
-- every DAG run of that instance that has task tries.
-- Grain: one row per (airflow_instance, day) queued. Params: $1 airflow_instance, $2 reporting
-- time zone.
INSERT INTO dag_run_pending_day (airflow_instance, day)
SELECT DISTINCT r.airflow_instance,
       (coalesce(r.execution_date, r.run_after) AT TIME ZONE $2::text)::date
FROM dag_run_history AS r
WHERE r.airflow_instance = $1::text
  AND coalesce(r.execution_date, r.run_after) IS NOT NULL
  AND EXISTS (SELECT 1 FROM task_run_history AS t
              WHERE t.airflow_instance = r.airflow_instance
                AND t.dag_id = r.dag_id
                AND t.run_id = r.run_id)
ON CONFLICT DO NOTHING
