-- Model task_cost_daily: worker capacity each task took, per day of its DAG runs, pool and queue.
-- Grain: one row per (airflow_instance, day, dag_id, task_id, pool, queue) with at least one try
-- that has a start and an end. Params: $1 text[] instances and $2 date[] days to recompute, $3
-- reporting time zone, $4 the computing invocation's run id.
-- slot_seconds = pool_slots (1 when unrecorded) x run time; a try is wasted when it failed
-- (failed, up_for_retry) or a later try of its instance exists (it was retried or cleared);
-- queue_slot_seconds = pool_slots x (start_date - queued_at) where queued_at is known. A missing
-- pool or queue is grouped as ''.
INSERT INTO task_cost_daily (airflow_instance, day, dag_id, task_id, pool, queue, tries,
                             slot_seconds, wasted_slot_seconds, queue_slot_seconds,
                             computed_by_run_id)
WITH tries AS (
    -- The runs of the days as in task_tries_on_days (sql/transform/day_functions.sql), with the
    -- columns that function does not return.
    SELECT p.airflow_instance, p.day, t.dag_id, t.task_id, t.try_number, t.state,
           coalesce(t.pool, '') AS pool, coalesce(t.queue, '') AS queue,
           coalesce(t.pool_slots, 1) AS slots, t.duration_seconds,
           greatest(date_part('epoch', t.start_date - t.queued_at), 0) AS queue_wait_seconds,
           max(t.try_number) OVER (PARTITION BY t.airflow_instance, t.dag_id, t.run_id, t.task_id,
                                                t.map_index) AS final_try
    FROM unnest($1::text[], $2::date[]) AS p (airflow_instance, day)
    JOIN dag_run_history AS h
      ON h.airflow_instance = p.airflow_instance
     AND coalesce(h.execution_date, h.run_after) >= (p.day::timestamp AT TIME ZONE $3::text)
     AND coalesce(h.execution_date, h.run_after) < ((p.day + 1)::timestamp AT TIME ZONE $3::text)
     AND (coalesce(h.execution_date, h.run_after) AT TIME ZONE $3::text)::date = p.day
    JOIN task_run_history AS t
      ON t.airflow_instance = h.airflow_instance AND t.dag_id = h.dag_id AND t.run_id = h.run_id
)
SELECT airflow_instance, day, dag_id, task_id, pool, queue, count(*)::integer,
       sum(slots * duration_seconds),
       coalesce(sum(slots * duration_seconds)
                    FILTER (WHERE state IN ('failed', 'up_for_retry') OR try_number < final_try), 0),
       coalesce(sum(slots * queue_wait_seconds), 0),
       $4::uuid
FROM tries
WHERE duration_seconds IS NOT NULL
GROUP BY airflow_instance, day, dag_id, task_id, pool, queue
