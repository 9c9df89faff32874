-- Model task_daily: how each task fared, per day of its DAG runs.
-- Grain: one row per (airflow_instance, day, dag_id, task_id) with at least one task instance.
-- Params: $1 text[] instances and $2 date[] days to recompute, $3 reporting time zone, $4 the
-- computing invocation's run id.
-- An instance is one (run, task, map_index); its final try is its highest try_number. A try
-- "failed" in state failed or up_for_retry; it "was retried" when a higher try of the same
-- instance exists. Percentiles are interpolated (percentile_cont). Durations are summed as
-- whole microseconds (bigint, exact), so the sums do not depend on the order rows are read in.
INSERT INTO task_daily (airflow_instance, day, dag_id, task_id, task_instances, tries,
                        succeeded_tries, failed_tries, succeeded_after_retry, retried_instances,
                        retry_seconds, succeeded_seconds, duration_median_seconds,
                        duration_p95_seconds, duration_max_seconds, queue_wait_median_seconds,
                        queue_wait_p95_seconds, computed_by_run_id)
WITH tries AS (
    SELECT t.airflow_instance COLLATE "C" AS airflow_instance,
           t.day,
           t.dag_id COLLATE "C" AS dag_id,
           t.task_id COLLATE "C" AS task_id,
           t.try_number,
           t.state,
           t.duration_seconds,
           t.queue_wait_seconds,
           t.state IN ('failed', 'up_for_retry') AS failed,
           max(t.try_number) OVER instance AS final_try,
           min(t.try_number) FILTER (WHERE t.state IN ('failed', 'up_for_retry')) OVER instance
               AS first_failed_try
    FROM task_tries_on_days($1::text[], $2::date[], $3::text) AS t
    -- Partitioned day, DAG and task first (a run has one day), so that the rows come out of
    -- the window already in the order of the GROUP BY below: one sort of the tries, not two;
    -- compared in the "C" collation (equality is all either needs; the database's collation
    -- made every comparison a strcoll call).
    WINDOW instance AS (PARTITION BY t.day, t.dag_id COLLATE "C", t.task_id COLLATE "C",
                                     t.airflow_instance COLLATE "C", t.run_id COLLATE "C",
                                     t.map_index)
)
-- One pass: each instance is counted on its final try's row (exactly one per instance).
SELECT airflow_instance, day, dag_id, task_id,
       count(*) FILTER (WHERE try_number = final_try),
       count(*) FILTER (WHERE try_number >= 1),
       count(*) FILTER (WHERE state = 'success'),
       count(*) FILTER (WHERE failed),
       count(*) FILTER (WHERE try_number = final_try AND state = 'success' AND try_number > 1),
       count(*) FILTER (WHERE try_number = final_try AND first_failed_try < final_try),
       coalesce(sum(round(duration_seconds * 1000000)::bigint) FILTER (WHERE failed AND try_number < final_try) / 1000000.0, 0),
       coalesce(sum(round(duration_seconds * 1000000)::bigint) FILTER (WHERE state = 'success') / 1000000.0, 0),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_seconds) FILTER (WHERE state = 'success'),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds) FILTER (WHERE state = 'success'),
       max(duration_seconds) FILTER (WHERE state = 'success'),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY queue_wait_seconds),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY queue_wait_seconds),
       $4::uuid
FROM tries
GROUP BY day, dag_id, task_id, airflow_instance
