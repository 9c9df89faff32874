-- Merges the task batch into task_run_history on the natural key (airflow_instance, dag_id,
-- run_id, task_id, map_index, try_number), like upsert_dag_runs.sql: a try not yet in the
-- warehouse is inserted; one already there is updated only when the batch read it no earlier
-- and something differs, so loading the same extract again changes nothing.
-- A stored read time more than an hour ahead of this clock (the most an extract may be off,
-- [extract] max_clock_skew_seconds) was recorded by a wrong clock before pipewatch checked it:
-- any newer read replaces it (docs/extract-watermark.md, "A clock in the future").
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
    hostname, max_tries, dag_version, from_history, source_updated_at, source_read_at,
    loaded_by_run_id)
SELECT airflow_instance, airflow_major_version, dag_id, run_id, task_id, map_index, try_number,
       state, start_date, end_date, queued_at, scheduled_at, pool, pool_slots, queue, operator,
       hostname, max_tries, dag_version, from_history, source_updated_at, source_read_at, $1::uuid
FROM task_instance_extract_batch AS b
-- Tries already stored as read, or read later, are left out before the INSERT: the conflict
-- clause below would skip them too, but only after locking each stored row (an incremental
-- load re-reads the tries of its last 1,000 runs: 18,500 row locks took 108 ms at 10M tries).
WHERE NOT EXISTS (
    SELECT 1 FROM task_run_history AS s
    WHERE s.airflow_instance = b.airflow_instance AND s.dag_id = b.dag_id
      AND s.run_id = b.run_id AND s.task_id = b.task_id AND s.map_index = b.map_index
      AND s.try_number = b.try_number
      AND ((b.source_read_at < s.source_read_at AND s.source_read_at <= now() + interval '1 hour')
           OR (s.airflow_major_version, s.state, s.start_date, s.end_date, s.queued_at,
               s.scheduled_at, s.pool, s.pool_slots, s.queue, s.operator, s.hostname,
               s.max_tries, s.dag_version, s.from_history, s.source_updated_at)
              IS NOT DISTINCT FROM
              (b.airflow_major_version, b.state, b.start_date, b.end_date, b.queued_at,
               b.scheduled_at, b.pool, b.pool_slots, b.queue, b.operator, b.hostname,
               b.max_tries, b.dag_version, b.from_history, b.source_updated_at)))
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
    dag_version           = EXCLUDED.dag_version,
    from_history          = EXCLUDED.from_history,
    source_updated_at     = EXCLUDED.source_updated_at,
    source_read_at        = EXCLUDED.source_read_at,
    loaded_at             = now(),
    loaded_by_run_id      = EXCLUDED.loaded_by_run_id
WHERE (EXCLUDED.source_read_at >= h.source_read_at OR h.source_read_at > now() + interval '1 hour')
  AND (h.airflow_major_version, h.state, h.start_date, h.end_date, h.queued_at, h.scheduled_at,
       h.pool, h.pool_slots, h.queue, h.operator, h.hostname, h.max_tries, h.dag_version,
       h.from_history, h.source_updated_at)
      IS DISTINCT FROM
      (EXCLUDED.airflow_major_version, EXCLUDED.state, EXCLUDED.start_date, EXCLUDED.end_date,
       EXCLUDED.queued_at, EXCLUDED.scheduled_at, EXCLUDED.pool, EXCLUDED.pool_slots,
       EXCLUDED.queue, EXCLUDED.operator, EXCLUDED.hostname, EXCLUDED.max_tries,
       EXCLUDED.dag_version, EXCLUDED.from_history, EXCLUDED.source_updated_at)
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
      AND (h.source_read_at < b.source_read_at OR h.source_read_at > now() + interval '1 hour')
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
-- Each touched run's day by one primary-key lookup (LIMIT 1 keeps the planner from turning
-- the lookups into a hash join over all of dag_run_history: it cannot know how few runs
-- changed, and a scan of 500,000 runs took 124 ms where the lookups take about 1).
queued AS (
    INSERT INTO dag_run_pending_day (airflow_instance, day)
    SELECT DISTINCT t.airflow_instance, r.day
    FROM touched AS t
    CROSS JOIN LATERAL (
        SELECT (coalesce(h.execution_date, h.run_after) AT TIME ZONE $2::text)::date AS day
        FROM dag_run_history AS h
        WHERE h.airflow_instance = t.airflow_instance AND h.dag_id = t.dag_id
          AND h.run_id = t.run_id
        LIMIT 1
    ) AS r
    WHERE r.day IS NOT NULL
    ON CONFLICT DO NOTHING
)
SELECT (SELECT count(*) FROM changed) + (SELECT count(*) FROM placeholders) AS changed_tries
