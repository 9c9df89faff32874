-- Flakiest tasks, last 7 days: share of task instances that needed a retry, and the seconds those retries cost.
SELECT dag_id, task_id, task_instances, retried_instances, flaky_share, failed_tries,
       round(retry_seconds::numeric, 1) AS retry_seconds
FROM pipewatch.flakiest_tasks(7)
LIMIT 20
