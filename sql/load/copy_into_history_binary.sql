-- The binary COPY of one staged CSV extract (converted by pipewatch, src/load/binary.rs) straight
-- into dag_run_history: used only when the warehouse has no run of the extract's instance yet (a
-- first load), where nothing can conflict. loaded_by_run_id comes from the setting
-- pipewatch.run_id, set in the same transaction.
-- Grain: one row per CSV record. Params: none (rows on STDIN in binary; the CSV header is checked
-- by pipewatch). See copy_into_history.sql, the CSV form it falls back to.
COPY dag_run_history (
    airflow_instance, airflow_major_version, id, dag_id, run_id, execution_date, run_after,
    state, run_type, external_trigger, queued_at, start_date, end_date, data_interval_start,
    data_interval_end, clear_number, dag_version, source_updated_at, source_read_at)
FROM STDIN WITH (FORMAT binary)
