-- The binary COPY of one staged CSV extract (converted by pipewatch, src/load/binary.rs) into the
-- transaction's batch table.
-- Grain: one row per CSV record. Params: none (rows on STDIN in binary; the CSV header is checked
-- by pipewatch). See copy_into_batch.sql, the CSV form it falls back to.
COPY dag_run_extract_batch (
    airflow_instance, airflow_major_version, id, dag_id, run_id, execution_date, run_after,
    state, run_type, external_trigger, queued_at, start_date, end_date, data_interval_start,
    data_interval_end, clear_number, dag_version, source_updated_at, source_read_at)
FROM STDIN WITH (FORMAT binary)
