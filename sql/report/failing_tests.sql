-- The validation tests that failed or could not run in the report's period, each with its
-- latest such execution's values and how often it failed, the most recent failure first.
-- Grain: one row per test name. Params: $1 start of the period, $2 end of the period
-- (instants, end exclusive).
SELECT *
FROM (
    SELECT DISTINCT ON (test_name)
           test_name, severity, outcome, script_1_value, comp_operator, script_2_value,
           error_message, test_run_at, airflow_dag_id, airflow_run_id,
           count(*) OVER (PARTITION BY test_name) AS times
    FROM validation_run_history
    WHERE test_run_at >= $1::timestamptz AND test_run_at < $2::timestamptz
      AND outcome <> 'passed'
    ORDER BY test_name, test_run_at DESC
) AS latest
ORDER BY test_run_at DESC, test_name
