-- Records up to when an instance's slots were judged (the next transform starts there).
-- Grain: one row per airflow_instance. Params: $1 airflow_instance, $2 judged_until, $3 the
-- invocation's run id.
INSERT INTO dag_schedule_state (airflow_instance, judged_until, updated_by_run_id)
VALUES ($1::text, $2::timestamptz, $3::uuid)
ON CONFLICT (airflow_instance) DO UPDATE
SET judged_until = EXCLUDED.judged_until, updated_by_run_id = EXCLUDED.updated_by_run_id
