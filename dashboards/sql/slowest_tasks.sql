-- Slowest tasks: 95th percentile duration of successful tries over the last 7 days, beside the 7 days before.
SELECT dag_id, task_id, successful_tries,
       round(p95_seconds::numeric, 1) AS p95_seconds,
       round(previous_p95_seconds::numeric, 1) AS previous_p95_seconds,
       round(p95_change_ratio::numeric, 2) AS change_ratio
FROM pipewatch.slowest_tasks(7)
LIMIT 20
