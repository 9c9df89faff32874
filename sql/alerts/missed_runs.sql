-- The missing runs of every catalogued DAG (dag_schedule_missed) due in the last $1 hours
-- before its instance's slots were last judged (dag_schedule_state), for the missed_runs rule:
-- one row per DAG, healthy ones included (so an open alert resolves).
-- Grain: one row per (airflow_instance, dag_id) of dag_catalog whose instance has been judged.
-- Params: $1 integer: the longest missed_runs_hours configured.
SELECT c.airflow_instance,
       c.dag_id::text AS dag_id,
       c.owners,
       s.judged_until,
       coalesce(array_agg(m.due_at ORDER BY m.due_at) FILTER (WHERE m.due_at IS NOT NULL),
                '{}') AS missing_due_at
FROM dag_schedule_state AS s
JOIN dag_catalog AS c ON c.airflow_instance = s.airflow_instance
LEFT JOIN dag_schedule_missed AS m
       ON m.airflow_instance = c.airflow_instance
      AND m.dag_id = c.dag_id
      AND m.due_at > s.judged_until - make_interval(hours => $1::integer)
      AND m.due_at <= s.judged_until
GROUP BY c.airflow_instance, c.dag_id, c.owners, s.judged_until
ORDER BY c.airflow_instance, c.dag_id
