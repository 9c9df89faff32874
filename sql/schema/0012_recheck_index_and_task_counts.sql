-- Migration 0012: an index for the incremental re-check, and task-try counts of their own in
-- pipewatch_run_log.
-- 1. An incremental extract re-checks the newest recheck_last_ids runs (runs that committed out
--    of id order). It now reads what the warehouse holds of them (id and Airflow's updated_at,
--    sql/extract/recheck_known.sql) and copies only the ones that are new or changed: this
--    index makes that read a range scan of one instance's newest ids.
-- 2. rows_read and rows_written of extract and load counted DAG runs and task tries together,
--    so `pipewatch status` showed one number for two things. They now count DAG runs only;
--    task tries have their own columns. Rows logged before this migration keep their sums.
-- Grain: one row per (airflow_instance, dag_id, run_id) of dag_run_history and one row per
-- (invocation, stage[, instance]) of pipewatch_run_log, both unchanged.
-- Params: none. Applied with search_path set to pipewatch's schema.
CREATE INDEX dag_run_history_source_id_idx ON dag_run_history (airflow_instance, id);

ALTER TABLE pipewatch_run_log
    ADD COLUMN task_rows_read    bigint,
    ADD COLUMN task_rows_written bigint;

COMMENT ON COLUMN pipewatch_run_log.rows_read IS
    'Rows the stage read from its source (extract and load: DAG runs only; before migration 0012 DAG runs and task tries together); NULL when the stage reads no rows or did not get that far.';
COMMENT ON COLUMN pipewatch_run_log.rows_written IS
    'Rows the stage inserted or updated (extract: staged; load: DAG runs inserted or changed; migrate: migrations applied); NULL when unknown.';
COMMENT ON COLUMN pipewatch_run_log.task_rows_read IS
    'Task tries the stage read (extract and load of a source that reads task instances); NULL for other stages and for rows logged before migration 0012.';
COMMENT ON COLUMN pipewatch_run_log.task_rows_written IS
    'Task tries the stage staged (extract) or inserted or changed (load); NULL for other stages and for rows logged before migration 0012.';
