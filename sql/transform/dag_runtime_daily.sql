-- Model dag_runtime_daily: how long each DAG ran, successful and failed runs apart.
-- Grain: one row per (airflow_instance, day, dag_id) with at least one finished run that has
-- both start and end dates.
-- Params: $1 text[] instances and $2 date[] days to recompute, $3 reporting time zone, $4 the
-- computing invocation's run id. Median and 95th percentile are interpolated (percentile_cont).
-- Averages are taken over the runtimes as whole microseconds (bigint: Airflow stores times to
-- the microsecond), whose sum is exact, so they do not depend on the order PostgreSQL reads the
-- rows in: an incremental recompute and a full refresh give the same value to the last digit.
INSERT INTO dag_runtime_daily (
    airflow_instance, day, dag_id,
    successful_runs_timed, success_runtime_avg_seconds, success_runtime_median_seconds,
    success_runtime_p95_seconds, success_runtime_max_seconds,
    failed_runs_timed, failed_runtime_avg_seconds, failed_runtime_median_seconds,
    failed_runtime_p95_seconds, failed_runtime_max_seconds,
    computed_by_run_id)
SELECT r.airflow_instance,
       r.day,
       r.dag_id,
       count(r.runtime_seconds) FILTER (WHERE r.state = 'success'),
       avg(round(r.runtime_seconds * 1000000)::bigint) FILTER (WHERE r.state = 'success') / 1000000,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY r.runtime_seconds) FILTER (WHERE r.state = 'success'),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY r.runtime_seconds) FILTER (WHERE r.state = 'success'),
       max(r.runtime_seconds) FILTER (WHERE r.state = 'success'),
       count(r.runtime_seconds) FILTER (WHERE r.state = 'failed'),
       avg(round(r.runtime_seconds * 1000000)::bigint) FILTER (WHERE r.state = 'failed') / 1000000,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY r.runtime_seconds) FILTER (WHERE r.state = 'failed'),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY r.runtime_seconds) FILTER (WHERE r.state = 'failed'),
       max(r.runtime_seconds) FILTER (WHERE r.state = 'failed'),
       $4::uuid
FROM dag_runs_on_days($1::text[], $2::date[], $3::text) AS r
WHERE r.runtime_seconds IS NOT NULL
GROUP BY r.airflow_instance, r.day, r.dag_id
