-- Streams one staged task-instance CSV extract into the transaction's task batch table.
-- Grain: one row per CSV record. Params: none (data on STDIN; header row skipped, checked by
-- pipewatch before it is sent). Unquoted empty fields are NULL; "" is an empty string.
COPY task_instance_extract_batch (
    airflow_instance, airflow_major_version, dag_id, run_id, task_id, map_index, try_number,
    state, start_date, end_date, queued_at, scheduled_at, pool, pool_slots, queue, operator,
    hostname, max_tries, dag_version, from_history, source_updated_at, source_read_at)
FROM STDIN WITH (FORMAT csv, HEADER true)
