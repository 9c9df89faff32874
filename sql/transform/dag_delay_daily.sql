-- Model dag_delay_daily: where the DAG runs of a day waited (view dag_run_delay, per day).
-- Grain: one row per (airflow_instance, day, dag_id) with at least one run.
-- Params: $1 text[] instances and $2 date[] days to recompute, $3 reporting time zone, $4 the
-- computing invocation's run id. Each figure is over the runs that have that delay
-- (percentile_cont ignores NULL); NULL when none has.
INSERT INTO dag_delay_daily (airflow_instance, day, dag_id, runs, queue_median_seconds,
                             queue_p95_seconds, schedule_delay_median_seconds,
                             schedule_delay_p95_seconds, landing_median_seconds,
                             landing_p95_seconds, first_task_start_delay_median_seconds,
                             first_task_start_delay_p95_seconds, computed_by_run_id)
SELECT d.airflow_instance,
       d.day,
       d.dag_id,
       count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY d.queue_seconds),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY d.queue_seconds),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY d.schedule_delay_seconds),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY d.schedule_delay_seconds),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY d.landing_seconds),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY d.landing_seconds),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY d.first_task_start_delay_seconds),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY d.first_task_start_delay_seconds),
       $4::uuid
FROM dag_run_delays_on_days($1::text[], $2::date[], $3::text) AS d
GROUP BY d.airflow_instance, d.day, d.dag_id
