-- Retry cost per DAG over the last N days (N = the dashboard's range in whole days, at least 1, ending today): seconds spent in tries that failed and were retried, and their share of task time.
SELECT dag_id, retried_instances, failed_tries,
       round(retry_seconds::numeric, 1) AS retry_seconds, retry_share_of_task_seconds
FROM ${schema:raw}.dag_retry_cost(greatest(1, $__range_s / 86400))
WHERE airflow_instance IN ($instance)
  AND ${schema:raw}.dag_matches(airflow_instance, dag_id, ARRAY[$owner]::text[], ARRAY[$tag]::text[])
