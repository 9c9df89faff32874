-- For every DAG with runs in the last 30 days: when its newest successful run ended, and that
-- run (the freshness rule).
-- Grain: one row per (airflow_instance, dag_id). Params: none.
SELECT DISTINCT ON (airflow_instance, dag_id)
       airflow_instance, dag_id::text AS dag_id,
       CASE WHEN state = 'success' THEN end_date END   AS last_success_at,
       CASE WHEN state = 'success' THEN run_id::text END AS last_success_run
FROM dag_run_history
WHERE coalesce(execution_date, run_after) >= now() - interval '30 days'
ORDER BY airflow_instance, dag_id, (state = 'success' AND end_date IS NOT NULL) DESC, end_date DESC NULLS LAST
