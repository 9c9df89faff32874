-- Streams one staged CSV extract into the transaction's batch table.
-- Grain: one row per CSV record. Params: none (data on STDIN; header row skipped, checked by
-- pipewatch before it is sent). Unquoted empty fields are NULL; "" is an empty string.
COPY dag_run_extract_batch (
    airflow_instance, airflow_major_version, id, dag_id, run_id, execution_date, run_after,
    state, run_type, external_trigger, queued_at, start_date, end_date, data_interval_start,
    data_interval_end, clear_number, dag_version, source_updated_at, source_read_at)
FROM STDIN WITH (FORMAT csv, HEADER true)
