-- Compliance per objective and day: judgements met / decided (objective_daily; NULL when none was due that day); see README, Promises.
SELECT day::timestamp AS "time", objective AS metric,
       sum(met)::double precision / nullif(sum(due), 0) AS compliance
FROM ${schema:raw}.objective_daily
WHERE $__timeFilter(day) AND airflow_instance IN ($instance)
  AND ${schema:raw}.dag_matches(airflow_instance, dag_id, ARRAY[$owner]::text[], ARRAY[$tag]::text[])
GROUP BY day, objective
ORDER BY 1, 2
