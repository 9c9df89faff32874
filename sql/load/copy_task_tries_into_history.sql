-- Streams one staged task-instance CSV extract straight into task_run_history: used only when
-- the warehouse has no task try of the extract's instance yet (a first load), where nothing can
-- conflict. loaded_by_run_id comes from the setting pipewatch.run_id, set in the same
-- transaction; duration_seconds is computed by the table.
-- Grain: one row per CSV record. Params: none (data on STDIN, header row skipped).
COPY task_run_history (
    airflow_instance, airflow_major_version, dag_id, run_id, task_id, map_index, try_number,
    state, start_date, end_date, queued_at, scheduled_at, pool, pool_slots, queue, operator,
    hostname, max_tries, dag_version, from_history, source_updated_at, source_read_at)
FROM STDIN WITH (FORMAT csv, HEADER true)
