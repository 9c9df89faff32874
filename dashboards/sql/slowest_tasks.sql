-- Slowest tasks: 95th percentile duration of successful tries over the last N days (N = the dashboard's range in whole days, at least 1, ending today), beside the N days before.
SELECT dag_id, task_id, successful_tries,
       round(p95_seconds::numeric, 1) AS p95_seconds,
       round(previous_p95_seconds::numeric, 1) AS previous_p95_seconds,
       round(p95_change_ratio::numeric, 2) AS change_ratio
FROM ${schema:raw}.slowest_tasks(greatest(1, $__range_s / 86400))
WHERE airflow_instance IN ($instance)
  AND ${schema:raw}.dag_matches(airflow_instance, dag_id, ARRAY[$owner]::text[], ARRAY[$tag]::text[])
LIMIT 20
