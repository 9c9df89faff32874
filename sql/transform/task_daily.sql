-- Model task_daily: how each task fared, per day of its DAG runs.
-- Grain: one row per (airflow_instance, day, dag_id, task_id) with at least one task instance.
-- Params: $1 text[] instances and $2 date[] days to recompute, $3 reporting time zone, $4 the
-- computing invocation's run id.
-- An instance is one (run, task, map_index); its final try is its highest try_number. A try
-- "failed" in state failed or up_for_retry; it "was retried" when a higher try of the same
-- instance exists. Percentiles are interpolated (percentile_cont).
INSERT INTO task_daily (airflow_instance, day, dag_id, task_id, task_instances, tries,
                        succeeded_tries, failed_tries, succeeded_after_retry, retried_instances,
                        retry_seconds, succeeded_seconds, duration_median_seconds,
                        duration_p95_seconds, duration_max_seconds, queue_wait_median_seconds,
                        queue_wait_p95_seconds, computed_by_run_id)
WITH tries AS (
    SELECT t.*,
           t.state IN ('failed', 'up_for_retry') AS failed,
           max(t.try_number) OVER (PARTITION BY t.airflow_instance, t.dag_id, t.run_id,
                                                t.task_id, t.map_index) AS final_try
    FROM task_tries_on_days($1::text[], $2::date[], $3::text) AS t
),
instances AS (
    SELECT airflow_instance, day, dag_id, task_id,
           bool_or(try_number = final_try AND state = 'success' AND try_number > 1)
               AS succeeded_after_retry,
           bool_or(failed AND try_number < final_try) AS retried
    FROM tries
    GROUP BY airflow_instance, day, dag_id, run_id, task_id, map_index
),
per_instance AS (
    SELECT airflow_instance, day, dag_id, task_id,
           count(*) AS task_instances,
           count(*) FILTER (WHERE succeeded_after_retry) AS succeeded_after_retry,
           count(*) FILTER (WHERE retried) AS retried_instances
    FROM instances
    GROUP BY airflow_instance, day, dag_id, task_id
),
per_try AS (
    SELECT airflow_instance, day, dag_id, task_id,
           count(*) FILTER (WHERE try_number >= 1) AS tries,
           count(*) FILTER (WHERE state = 'success') AS succeeded_tries,
           count(*) FILTER (WHERE failed) AS failed_tries,
           coalesce(sum(duration_seconds) FILTER (WHERE failed AND try_number < final_try), 0)
               AS retry_seconds,
           coalesce(sum(duration_seconds) FILTER (WHERE state = 'success'), 0) AS succeeded_seconds,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_seconds)
               FILTER (WHERE state = 'success') AS duration_median,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds)
               FILTER (WHERE state = 'success') AS duration_p95,
           max(duration_seconds) FILTER (WHERE state = 'success') AS duration_max,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY queue_wait_seconds) AS queue_wait_median,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY queue_wait_seconds) AS queue_wait_p95
    FROM tries
    GROUP BY airflow_instance, day, dag_id, task_id
)
SELECT t.airflow_instance, t.day, t.dag_id, t.task_id, i.task_instances, t.tries,
       t.succeeded_tries, t.failed_tries, i.succeeded_after_retry, i.retried_instances,
       t.retry_seconds, t.succeeded_seconds, t.duration_median, t.duration_p95, t.duration_max,
       t.queue_wait_median, t.queue_wait_p95, $4::uuid
FROM per_try AS t
JOIN per_instance AS i USING (airflow_instance, day, dag_id, task_id)
