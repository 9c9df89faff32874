-- Runtime trend per DAG over the dashboard's time range: median and 95th percentile of successful runs, seconds.
SELECT day::timestamp AS "time",
       dag_id || ' median' AS metric,
       success_runtime_median_seconds AS seconds
FROM ${schema:raw}.dag_runtime_daily
WHERE $__timeFilter(day) AND airflow_instance IN ($instance)
  AND ${schema:raw}.dag_matches(airflow_instance, dag_id, ARRAY[$owner]::text[], ARRAY[$tag]::text[])
  AND success_runtime_median_seconds IS NOT NULL
UNION ALL
SELECT day::timestamp, dag_id || ' p95', success_runtime_p95_seconds
FROM ${schema:raw}.dag_runtime_daily
WHERE $__timeFilter(day) AND airflow_instance IN ($instance)
  AND ${schema:raw}.dag_matches(airflow_instance, dag_id, ARRAY[$owner]::text[], ARRAY[$tag]::text[])
  AND success_runtime_p95_seconds IS NOT NULL
ORDER BY 1, 2
