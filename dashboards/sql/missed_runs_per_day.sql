-- Runs the schedules called for per day, the ones that came and the ones that never did (dag_schedule_daily: slots count only while a DAG was unpaused and present; schedules pipewatch does not expand are left out).
SELECT day::timestamp AS "time", sum(expected_runs) AS expected, sum(actual_runs) AS came,
       sum(missing_runs) AS missing
FROM ${schema:raw}.dag_schedule_daily
WHERE $__timeFilter(day) AND airflow_instance IN ($instance)
  AND ${schema:raw}.dag_matches(airflow_instance, dag_id, ARRAY[$owner]::text[], ARRAY[$tag]::text[])
GROUP BY day
ORDER BY 1
