-- Airflow 3.x task tries in pipewatch's task extract columns (the header of every staged
-- task-instance CSV), for the DAG runs in selected_runs (selected_runs.sql comes first).
-- Runs inside COPY (...) TO STDOUT.
-- Grain: one row per try (dag_id, run_id, task_id, map_index, try_number): the current try from
-- task_instance, earlier tries from task_instance_history. Between a clear or a failed try and
-- the next scheduling, both tables hold the same try_number: the history row (the try as it
-- ended) is that try, the task_instance row only waits for the next one.
-- Params: settings set with set_config($1): pipewatch.airflow_instance.
-- Index use: task_instance by ti_dag_run (dag_id, run_id); task_instance_history by its unique
-- (dag_id, task_id, run_id, map_index, try_number), reached through each task_instance row.
SELECT current_setting('pipewatch.airflow_instance') AS airflow_instance,
       3                      AS airflow_major_version,
       t.dag_id,
       t.run_id,
       t.task_id,
       t.map_index,
       t.try_number,
       t.state,
       t.start_date,
       t.end_date,
       t.queued_dttm          AS queued_at,
       t.scheduled_dttm       AS scheduled_at,
       t.pool,
       t.pool_slots,
       t.queue,
       t.operator,
       t.hostname,
       t.max_tries,
       t.dag_version_id::text AS dag_version,
       t.from_history,
       t.updated_at           AS source_updated_at,
       now()                  AS source_read_at
FROM (
    SELECT ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number,
           ti.state, ti.start_date, ti.end_date, ti.queued_dttm, ti.scheduled_dttm, ti.pool, ti.pool_slots,
           ti.queue, ti.operator, ti.hostname, ti.max_tries, ti.dag_version_id, false AS from_history, ti.updated_at
    FROM selected_runs AS r
    JOIN task_instance AS ti ON ti.dag_id = r.dag_id AND ti.run_id = r.run_id
    WHERE NOT EXISTS (
        SELECT 1 FROM task_instance_history AS h
        WHERE h.dag_id = ti.dag_id AND h.task_id = ti.task_id AND h.run_id = ti.run_id
          AND h.map_index = ti.map_index AND h.try_number = ti.try_number)
    UNION ALL
    SELECT h.dag_id, h.run_id, h.task_id, h.map_index, h.try_number,
           h.state, h.start_date, h.end_date, h.queued_dttm, h.scheduled_dttm, h.pool, h.pool_slots,
           h.queue, h.operator, h.hostname, h.max_tries, h.dag_version_id, true AS from_history, h.updated_at
    FROM selected_runs AS r
    JOIN task_instance AS ti ON ti.dag_id = r.dag_id AND ti.run_id = r.run_id
    JOIN task_instance_history AS h
      ON h.dag_id = ti.dag_id AND h.task_id = ti.task_id AND h.run_id = ti.run_id
     AND h.map_index = ti.map_index
) AS t
