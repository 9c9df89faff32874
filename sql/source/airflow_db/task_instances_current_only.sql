-- Task tries of Airflow 2.8 and 2.9, which keep no task_instance_history: only each task
-- instance's current try, in pipewatch's task extract columns, for the DAG runs in
-- selected_runs (selected_runs.sql comes first). Earlier tries are lost in Airflow itself.
-- Runs inside COPY (...) TO STDOUT.
-- Grain: one row per task instance (its current try).
-- Params: settings set with set_config($1): pipewatch.airflow_instance.
-- Index use: task_instance by ti_dag_run (dag_id, run_id).
SELECT current_setting('pipewatch.airflow_instance') AS airflow_instance,
       2                          AS airflow_major_version,
       ti.dag_id,
       ti.run_id,
       ti.task_id,
       ti.map_index,
       coalesce(ti.try_number, 0) AS try_number,
       ti.state,
       ti.start_date,
       ti.end_date,
       ti.queued_dttm             AS queued_at,
       NULL::timestamptz          AS scheduled_at,
       ti.pool,
       ti.pool_slots,
       ti.queue,
       ti.operator,
       ti.hostname,
       ti.max_tries,
       NULL::text                 AS dag_version,
       false                      AS from_history,
       ti.updated_at              AS source_updated_at,
       now()                      AS source_read_at
FROM selected_runs AS r
JOIN task_instance AS ti ON ti.dag_id = r.dag_id AND ti.run_id = r.run_id
