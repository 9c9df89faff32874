-- Where DAG runs waited, last 30 days: median schedule delay and first-task delay per DAG and day, seconds.
SELECT day::timestamp AS "time",
       dag_id || ' schedule delay' AS metric,
       schedule_delay_median_seconds AS seconds
FROM pipewatch.dag_delay_daily
WHERE day >= current_date - 30 AND schedule_delay_median_seconds IS NOT NULL
UNION ALL
SELECT day::timestamp, dag_id || ' first task', first_task_start_delay_median_seconds
FROM pipewatch.dag_delay_daily
WHERE day >= current_date - 30 AND first_task_start_delay_median_seconds IS NOT NULL
ORDER BY 1, 2
