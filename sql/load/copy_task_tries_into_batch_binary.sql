-- The binary COPY of one staged task-instance CSV extract (converted by pipewatch,
-- src/load/binary.rs) into the transaction's task batch table.
-- Grain: one row per CSV record. Params: none (rows on STDIN in binary; the CSV header is checked
-- by pipewatch). See copy_task_tries_into_batch.sql, the CSV form it falls back to.
COPY task_instance_extract_batch (
    airflow_instance, airflow_major_version, dag_id, run_id, task_id, map_index, try_number,
    state, start_date, end_date, queued_at, scheduled_at, pool, pool_slots, queue, operator,
    hostname, max_tries, dag_version, from_history, source_updated_at, source_read_at)
FROM STDIN WITH (FORMAT binary)
