-- Merges the task batch into task_run_history on the natural key (airflow_instance, dag_id,
-- run_id, task_id, map_index, try_number), like upsert_dag_runs.sql: a try not yet in the
-- warehouse is inserted; one already there is updated only when the batch read it no earlier
-- and something differs, so loading the same extract again changes nothing.
-- The batch holds every task instance of each DAG run it covers, so a stored try 0 (an
-- instance Airflow had not scheduled yet) that a newer read of its run no longer holds has
-- become try 1 (or, for a mapped task, map index 0): it is deleted. No other try is ever
-- deleted: a try Airflow stopped keeping stays as last read.
-- The day of the DAG run of every inserted, changed or deleted try is queued for the transform.
-- Grain: one row per task try. Params: $1 the loading invocation's run id, $2 reporting time
-- zone. Returns: one row, the number of tries inserted, changed or deleted.
WITH changed AS (
INSERT INTO task_run_history AS h (
    airflow_instance, airflow_major_version, dag_id, run_id, task_id, map_index, try_number,
    state, start_date, end_date, queued_at, scheduled_at, pool, pool_slots, queue, operator,
    hostname, max_tries, from_history, source_updated_at, source_read_at, loaded_by_run_id)
SELECT airflow_instance, airflow_major_version, dag_id, run_id, task_id, map_index, try_number,
       state, start_date, end_date, queued_at, scheduled_at, pool, pool_slots, queue, operator,
       hostname, max_tries, from_history, source_updated_at, source_read_at, $1::uuid
FROM task_instance_extract_batch
ON CONFLICT (airflow_instance, dag_id, run_id, task_id, map_index, try_number) DO UPDATE
SET airflow_major_version = EXCLUDED.airflow_major_version,
    state                 = EXCLUDED.state,
    start_date            = EXCLUDED.start_date,
    end_date              = EXCLUDED.end_date,
    queued_at             = EXCLUDED.queued_at,
    scheduled_at          = EXCLUDED.scheduled_at,
    pool                  = EXCLUDED.pool,
    pool_slots            = EXCLUDED.pool_slots,
    queue                 = EXCLUDED.queue,
    operator              = EXCLUDED.operator,
    hostname              = EXCLUDED.hostname,
    max_tries             = EXCLUDED.max_tries,
    from_history          = EXCLUDED.from_history,
    source_updated_at     = EXCLUDED.source_updated_at,
    source_read_at        = EXCLUDED.source_read_at,
    loaded_at             = now(),
    loaded_by_run_id      = EXCLUDED.loaded_by_run_id
WHERE EXCLUDED.source_read_at >= h.source_read_at
  AND (h.airflow_major_version, h.state, h.start_date, h.end_date, h.queued_at, h.scheduled_at,
       h.pool, h.pool_slots, h.queue, h.operator, h.hostname, h.max_tries, h.from_history,
       h.source_updated_at)
      IS DISTINCT FROM
      (EXCLUDED.airflow_major_version, EXCLUDED.state, EXCLUDED.start_date, EXCLUDED.end_date,
       EXCLUDED.queued_at, EXCLUDED.scheduled_at, EXCLUDED.pool, EXCLUDED.pool_slots,
       EXCLUDED.queue, EXCLUDED.operator, EXCLUDED.hostname, EXCLUDED.max_tries,
       EXCLUDED.from_history, EXCLUDED.source_updated_at)
RETURNING h.airflow_instance, h.dag_id, h.run_id
),
runs AS (
    SELECT airflow_instance, dag_id, run_id, max(source_read_at) AS source_read_at
    FROM task_instance_extract_batch
    GROUP BY airflow_instance, dag_id, run_id
),
placeholders AS (
    DELETE FROM task_run_history AS h
    USING runs AS b
    WHERE h.airflow_instance = b.airflow_instance
      AND h.dag_id = b.dag_id
      AND h.run_id = b.run_id
      AND h.try_number = 0
      AND h.source_read_at < b.source_read_at
      AND NOT EXISTS (
          SELECT 1 FROM task_instance_extract_batch AS x
          WHERE x.airflow_instance = h.airflow_instance AND x.dag_id = h.dag_id
            AND x.run_id = h.run_id AND x.task_id = h.task_id AND x.map_index = h.map_index
            AND x.try_number = 0)
    RETURNING h.airflow_instance, h.dag_id, h.run_id
),
touched AS (
    SELECT airflow_instance, dag_id, run_id FROM changed
    UNION
    SELECT airflow_instance, dag_id, run_id FROM placeholders
),
queued AS (
    INSERT INTO dag_run_pending_day (airflow_instance, day)
    SELECT DISTINCT r.airflow_instance,
           (coalesce(r.execution_date, r.run_after) AT TIME ZONE $2::text)::date
    FROM touched AS t
    JOIN dag_run_history AS r
      ON r.airflow_instance = t.airflow_instance AND r.dag_id = t.dag_id AND r.run_id = t.run_id
    WHERE coalesce(r.execution_date, r.run_after) IS NOT NULL
    ON CONFLICT DO NOTHING
)
SELECT (SELECT count(*) FROM changed) + (SELECT count(*) FROM placeholders) AS changed_tries
