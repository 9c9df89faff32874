-- Brings objective_scope to the DAGs the objectives match now: pairs no longer matched are
-- forgotten, new pairs added and pairs whose objective changed reset (judged_at NULL: judged
-- over the days the transform recomputes, not only for what changed).
-- Grain: one row per (objective, airflow_instance, dag_id) matched; returns the pairs added or
-- reset. Params: $1 objective labels, $2 instances, $3 dag ids, $4 definitions (one entry per
-- objective and DAG).
WITH pair AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
        AS p (objective, airflow_instance, dag_id, definition)
), gone AS (
    -- NOT IN: a hashed subplan (NOT EXISTS compared each row with every pair: 9.7 s at 10,000)
    DELETE FROM objective_scope AS s
    WHERE (s.objective, s.airflow_instance, s.dag_id)
          NOT IN (SELECT p.objective, p.airflow_instance, p.dag_id FROM pair AS p)
)
INSERT INTO objective_scope AS s (objective, airflow_instance, dag_id, definition, judged_at)
SELECT objective, airflow_instance, dag_id, definition, NULL
FROM pair
ON CONFLICT ON CONSTRAINT objective_scope_pkey DO UPDATE
SET definition = EXCLUDED.definition, judged_at = NULL
WHERE s.definition IS DISTINCT FROM EXCLUDED.definition
RETURNING s.objective, s.airflow_instance, s.dag_id
