-- Success rate per DAG and day, last 30 days: successful / finished runs (NULL when none finished).
SELECT day::timestamp AS "time", dag_id AS metric, success_rate
FROM pipewatch.dag_success_daily
WHERE day >= current_date - 30
ORDER BY 1, 2
