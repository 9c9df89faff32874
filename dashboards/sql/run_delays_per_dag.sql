-- Where DAG runs waited over the dashboard's time range: median schedule delay and first-task delay per DAG and day, seconds.
SELECT day::timestamp AS "time",
       dag_id || ' schedule delay' AS metric,
       schedule_delay_median_seconds AS seconds
FROM ${schema:raw}.dag_delay_daily
WHERE $__timeFilter(day) AND airflow_instance IN ($instance)
  AND ${schema:raw}.dag_matches(airflow_instance, dag_id, ARRAY[$owner]::text[], ARRAY[$tag]::text[])
  AND schedule_delay_median_seconds IS NOT NULL
UNION ALL
SELECT day::timestamp, dag_id || ' first task', first_task_start_delay_median_seconds
FROM ${schema:raw}.dag_delay_daily
WHERE $__timeFilter(day) AND airflow_instance IN ($instance)
  AND ${schema:raw}.dag_matches(airflow_instance, dag_id, ARRAY[$owner]::text[], ARRAY[$tag]::text[])
  AND first_task_start_delay_median_seconds IS NOT NULL
ORDER BY 1, 2
