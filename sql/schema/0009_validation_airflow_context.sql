-- Migration 0009: validation results tied to the Airflow task that ran them, and the view of
-- "silent failures": DAG runs that succeeded while a validation test run inside them failed.
-- Grain: validation_run_history keeps one row per test execution (new columns);
-- silent_validation_failure: one row per (failed test execution, DAG run it ran in).
-- Params: none. Applied with search_path set to pipewatch's schema.
-- When `pipewatch validate` runs inside an Airflow task, Airflow exports the task's context as
-- environment variables (AIRFLOW_CTX_DAG_ID, AIRFLOW_CTX_TASK_ID, AIRFLOW_CTX_DAG_RUN_ID,
-- AIRFLOW_CTX_TRY_NUMBER); pipewatch records them. Outside Airflow they are NULL.

ALTER TABLE validation_run_history
    ADD COLUMN airflow_dag_id     text,
    ADD COLUMN airflow_task_id    text,
    ADD COLUMN airflow_run_id     text,
    ADD COLUMN airflow_try_number integer;

COMMENT ON COLUMN validation_run_history.airflow_dag_id IS
    'The DAG whose task ran this test (Airflow''s AIRFLOW_CTX_DAG_ID); NULL when pipewatch validate ran outside Airflow.';
COMMENT ON COLUMN validation_run_history.airflow_task_id IS
    'The Airflow task that ran this test (AIRFLOW_CTX_TASK_ID); NULL outside Airflow.';
COMMENT ON COLUMN validation_run_history.airflow_run_id IS
    'The DAG run the test ran in (AIRFLOW_CTX_DAG_RUN_ID; dag_run_history.run_id); NULL outside Airflow.';
COMMENT ON COLUMN validation_run_history.airflow_try_number IS
    'The try of that task (AIRFLOW_CTX_TRY_NUMBER); NULL outside Airflow.';

CREATE INDEX validation_run_history_airflow_run_idx
    ON validation_run_history (airflow_dag_id, airflow_run_id)
    WHERE airflow_run_id IS NOT NULL;

CREATE VIEW silent_validation_failure AS
SELECT h.airflow_instance,
       h.dag_id,
       h.run_id,
       h.state                 AS dag_run_state,
       h.end_date              AS dag_run_end_date,
       v.airflow_task_id,
       v.airflow_try_number,
       v.test_name,
       v.severity,
       v.script_1_value,
       v.comp_operator,
       v.script_2_value,
       v.test_run_at,
       v.validation_result_id
FROM validation_run_history AS v
JOIN dag_run_history AS h
  ON h.dag_id = v.airflow_dag_id
 AND h.run_id = v.airflow_run_id
WHERE v.outcome = 'failed'
  AND h.state = 'success';

COMMENT ON VIEW silent_validation_failure IS
    'Silent failures: DAG runs Airflow marked success while a validation test run inside them (by pipewatch validate in one of their tasks) failed, typically a warn-severity test, or a halt test whose task was allowed to fail. One row per failed test execution and DAG run (a DAG id and run id present in several Airflow instances appears once per instance).';
COMMENT ON COLUMN silent_validation_failure.airflow_instance IS 'The Airflow installation of the DAG run.';
COMMENT ON COLUMN silent_validation_failure.dag_id IS 'The DAG.';
COMMENT ON COLUMN silent_validation_failure.run_id IS 'The DAG run the failed test ran in (dag_run_history.run_id).';
COMMENT ON COLUMN silent_validation_failure.dag_run_state IS 'The run''s state in Airflow when last loaded: success.';
COMMENT ON COLUMN silent_validation_failure.dag_run_end_date IS 'When the run finished (UTC).';
COMMENT ON COLUMN silent_validation_failure.airflow_task_id IS 'The task that ran the test.';
COMMENT ON COLUMN silent_validation_failure.airflow_try_number IS 'The try of that task.';
COMMENT ON COLUMN silent_validation_failure.test_name IS 'The validation test that failed.';
COMMENT ON COLUMN silent_validation_failure.severity IS 'Its severity: warn (the task went on) or halt (the task failed, yet the run succeeded).';
COMMENT ON COLUMN silent_validation_failure.script_1_value IS 'The value its first script returned.';
COMMENT ON COLUMN silent_validation_failure.comp_operator IS 'How the two values were compared.';
COMMENT ON COLUMN silent_validation_failure.script_2_value IS 'The value its second script returned.';
COMMENT ON COLUMN silent_validation_failure.test_run_at IS 'When the test started (UTC).';
COMMENT ON COLUMN silent_validation_failure.validation_result_id IS 'The result''s row in validation_run_history.';
