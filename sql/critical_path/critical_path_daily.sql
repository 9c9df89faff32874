-- Model critical_path_daily: how often each task was on its DAG's runs' critical paths on a day,
-- and how much of their duration it owned (dag_run_critical_path, just written for these days).
-- Grain: one row per (airflow_instance, day, dag_id, task_id) on at least one path. Params: $1
-- text[] instances and $2 date[] days (pairs), $3 the computing invocation's run id.
-- A task's contribution to a run is its step's dependency wait + retries + queue wait + run time;
-- percentiles are interpolated (percentile_cont).
INSERT INTO critical_path_daily (
    airflow_instance, day, dag_id, task_id, runs_on_path, runs_computed, contribution_seconds,
    contribution_median_seconds, contribution_p95_seconds, duration_share,
    dependency_wait_seconds, retry_seconds, queue_wait_seconds, run_seconds, computed_by_run_id)
WITH pairs AS MATERIALIZED (
    SELECT DISTINCT * FROM unnest($1::text[], $2::date[]) AS p (airflow_instance, day)
),
runs AS (
    SELECT r.airflow_instance, r.day, r.dag_id, count(*)::integer AS computed,
           sum(r.duration_seconds) AS duration
    FROM dag_run_critical_path_run AS r
    JOIN pairs AS p ON p.airflow_instance = r.airflow_instance AND p.day = r.day
    WHERE r.status = 'computed'
    GROUP BY r.airflow_instance, r.day, r.dag_id
),
steps AS (
    SELECT s.airflow_instance, s.day, s.dag_id, s.task_id, s.dependency_wait_seconds,
           s.retry_seconds, s.queue_wait_seconds, s.run_seconds,
           s.dependency_wait_seconds + s.retry_seconds + s.queue_wait_seconds + s.run_seconds
               AS contribution
    FROM dag_run_critical_path AS s
    JOIN pairs AS p ON p.airflow_instance = s.airflow_instance AND p.day = s.day
)
SELECT s.airflow_instance, s.day, s.dag_id, s.task_id, count(*)::integer, r.computed,
       sum(s.contribution),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY s.contribution::float8),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY s.contribution::float8),
       CASE WHEN r.duration > 0 THEN (sum(s.contribution) / r.duration)::float8 END,
       sum(s.dependency_wait_seconds), sum(s.retry_seconds), sum(s.queue_wait_seconds),
       sum(s.run_seconds), $3::uuid
FROM steps AS s
JOIN runs AS r
  ON r.airflow_instance = s.airflow_instance AND r.day = s.day AND r.dag_id = s.dag_id
GROUP BY s.airflow_instance, s.day, s.dag_id, s.task_id, r.computed, r.duration
