-- Success rate per DAG and day over the dashboard's time range: successful / finished runs (NULL when none finished).
SELECT day::timestamp AS "time", dag_id AS metric, success_rate
FROM ${schema:raw}.dag_success_daily
WHERE $__timeFilter(day) AND airflow_instance IN ($instance)
  AND ${schema:raw}.dag_matches(airflow_instance, dag_id, ARRAY[$owner]::text[], ARRAY[$tag]::text[])
ORDER BY 1, 2
