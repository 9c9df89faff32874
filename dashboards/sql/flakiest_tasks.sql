-- Flakiest tasks over the last N days (N = the dashboard's range in whole days, at least 1, ending today): share of task instances that needed a retry, and the seconds those retries cost.
SELECT dag_id, task_id, task_instances, retried_instances, flaky_share, failed_tries,
       round(retry_seconds::numeric, 1) AS retry_seconds
FROM ${schema:raw}.flakiest_tasks(greatest(1, $__range_s / 86400))
WHERE airflow_instance IN ($instance)
  AND ${schema:raw}.dag_matches(airflow_instance, dag_id, ARRAY[$owner]::text[], ARRAY[$tag]::text[])
LIMIT 20
