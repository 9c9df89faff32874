-- The latest execution of every validation test of the last 7 days (the validation-failure
-- rule): failing until a later execution passes.
-- Grain: one row per test name. Params: none.
SELECT DISTINCT ON (test_name)
       test_name, target_database, severity, outcome, script_1_value, comp_operator,
       script_2_value, error_message, test_run_at, airflow_dag_id, airflow_run_id
FROM validation_run_history
WHERE test_run_at >= now() - interval '7 days'
ORDER BY test_name, test_run_at DESC
