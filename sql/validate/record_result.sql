-- Records one execution of one validation test, whatever its outcome.
-- Grain: one row per test execution (validation_result_id).
-- Params: $1 validation_result_id, $2 test_name, $3 script_1, $4 script_2, $5 comp_operator,
-- $6 severity, $7 outcome ('passed', 'failed', 'error'), $8 script_1_value, $9 script_2_value,
-- $10 error_message, $11 target_database, $12 test_run_at, $13 duration_seconds, $14 run_id,
-- $15 reporting time zone (the result's day is queued for the transform), $16 airflow_dag_id,
-- $17 airflow_task_id, $18 airflow_run_id, $19 airflow_try_number (NULL outside Airflow).
-- test_result keeps the book's meaning: 'true' passed, 'false' failed, NULL could not run.
WITH recorded AS (
INSERT INTO validation_run_history (
    validation_result_id, test_name, script_1, script_2, comp_operator, severity, outcome,
    test_result, script_1_value, script_2_value, error_message, target_database, test_run_at,
    duration_seconds, run_id, airflow_dag_id, airflow_task_id, airflow_run_id,
    airflow_try_number)
VALUES ($1::uuid, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text,
        CASE $7::text WHEN 'passed' THEN 'true' WHEN 'failed' THEN 'false' END,
        $8::text, $9::text, $10::text, $11::text, $12::timestamptz, $13::double precision, $14::uuid,
        $16::text, $17::text, $18::text, $19::integer)
RETURNING test_run_at
)
INSERT INTO validation_pending_day (day)
SELECT (test_run_at AT TIME ZONE $15::text)::date FROM recorded
ON CONFLICT DO NOTHING
