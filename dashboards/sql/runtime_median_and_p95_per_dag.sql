-- Runtime trend per DAG, last 30 days: median and 95th percentile of successful runs, seconds.
SELECT day::timestamp AS "time",
       dag_id || ' median' AS metric,
       success_runtime_median_seconds AS seconds
FROM pipewatch.dag_runtime_daily
WHERE day >= current_date - 30 AND success_runtime_median_seconds IS NOT NULL
UNION ALL
SELECT day::timestamp, dag_id || ' p95', success_runtime_p95_seconds
FROM pipewatch.dag_runtime_daily
WHERE day >= current_date - 30 AND success_runtime_p95_seconds IS NOT NULL
ORDER BY 1, 2
