-- Retry cost per DAG, last 7 days: seconds spent in tries that failed and were retried, and their share of task time.
SELECT dag_id, retried_instances, failed_tries,
       round(retry_seconds::numeric, 1) AS retry_seconds, retry_share_of_task_seconds
FROM pipewatch.dag_retry_cost(7)
