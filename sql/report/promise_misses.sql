-- The report's "Promises" section: the objectives' misses in the period, newest first (at most
-- 50): objective, DAG, run, due time, minutes late, why.
-- Grain: one row per missed judgement (objective_run). Params: $1 airflow_instance or NULL for
-- all, $2 the period's first day, $3 its last day, $4 and $5 the DAGs shown (parallel arrays)
-- or NULL for all.
SELECT o.objective, o.airflow_instance, o.dag_id, o.run_id, o.due_at, o.landed_at,
       o.minutes_late, o.note
FROM objective_run AS o
WHERE o.status = 'missed' AND o.day BETWEEN $2::date AND $3::date
  AND ($1::text IS NULL OR o.airflow_instance = $1::text)
  AND ($4::text[] IS NULL OR (o.airflow_instance, o.dag_id) IN (SELECT * FROM unnest($4::text[], $5::text[])))
ORDER BY o.due_at DESC, o.objective, o.dag_id
LIMIT 50
