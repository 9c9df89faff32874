-- Model dag_success_daily: how often each DAG succeeded.
-- Grain: one row per (airflow_instance, day, dag_id) with at least one run that day.
-- Params: $1 text[] instances and $2 date[] days (pairs to recompute; their rows were deleted
-- first), $3 reporting time zone, $4 the computing invocation's run id.
-- Success rate = successful / finished (success + failed) runs; unfinished runs are counted
-- apart and are not in the rate; NULL when no run finished.
INSERT INTO dag_success_daily (airflow_instance, day, dag_id, finished_runs, successful_runs,
                               failed_runs, unfinished_runs, success_rate, computed_by_run_id)
SELECT r.airflow_instance,
       r.day,
       r.dag_id,
       count(*) FILTER (WHERE r.state IN ('success', 'failed')),
       count(*) FILTER (WHERE r.state = 'success'),
       count(*) FILTER (WHERE r.state = 'failed'),
       count(*) FILTER (WHERE r.state IS NULL OR r.state NOT IN ('success', 'failed')),
       round(count(*) FILTER (WHERE r.state = 'success')::numeric
             / nullif(count(*) FILTER (WHERE r.state IN ('success', 'failed')), 0), 6),
       $4::uuid
FROM dag_runs_on_days($1::text[], $2::date[], $3::text) AS r
GROUP BY r.airflow_instance, r.day, r.dag_id
