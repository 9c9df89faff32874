-- The graph versions the finished runs of some days and their task tries name (see
-- tries_on_days.sql), read once before the walk.
-- Grain: one row per dag_graph_version row named. Params: $1 text[] instances and $2 date[]
-- days (pairs), $3 reporting time zone.
WITH runs AS (
    SELECT h.airflow_instance, h.dag_id, h.run_id, h.dag_version
    FROM unnest($1::text[], $2::date[]) AS p (airflow_instance, day)
    JOIN dag_run_history AS h
      ON h.airflow_instance = p.airflow_instance
     AND coalesce(h.execution_date, h.run_after) >= (p.day::timestamp AT TIME ZONE $3::text)
     AND coalesce(h.execution_date, h.run_after) < ((p.day + 1)::timestamp AT TIME ZONE $3::text)
     AND (coalesce(h.execution_date, h.run_after) AT TIME ZONE $3::text)::date = p.day
    WHERE h.state IN ('success', 'failed')
),
named AS (
    SELECT airflow_instance, dag_id, dag_version FROM runs WHERE dag_version IS NOT NULL
    UNION
    SELECT t.airflow_instance, t.dag_id, t.dag_version
    FROM runs AS r
    JOIN task_run_history AS t
      ON t.airflow_instance = r.airflow_instance AND t.dag_id = r.dag_id AND t.run_id = r.run_id
    WHERE t.dag_version IS NOT NULL
)
SELECT g.airflow_instance, g.dag_id, g.dag_version, g.tasks::text AS tasks, g.problem
FROM named AS n
JOIN dag_graph_version AS g
  ON g.airflow_instance = n.airflow_instance AND g.dag_id = n.dag_id
 AND g.dag_version = n.dag_version
