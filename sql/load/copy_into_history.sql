-- Streams one staged CSV extract straight into dag_run_history: used only when the warehouse has
-- no run of the extract's instance yet (a first load), where nothing can conflict.
-- loaded_by_run_id comes from the setting pipewatch.run_id, set in the same transaction.
-- Grain: one row per CSV record. Params: none (data on STDIN, header row skipped).
COPY dag_run_history (
    airflow_instance, airflow_major_version, id, dag_id, run_id, execution_date, run_after,
    state, run_type, external_trigger, queued_at, start_date, end_date, data_interval_start,
    data_interval_end, clear_number, dag_version, source_updated_at, source_read_at)
FROM STDIN WITH (FORMAT csv, HEADER true)
