-- The runs the warehouse holds as unfinished for one instance, by their natural key: a REST API
-- source (which has no Airflow ids) re-reads them on every extract until they finish.
-- Grain: one row per unfinished run. Params: $1 airflow_instance.
SELECT dag_id, run_id
FROM dag_run_history
WHERE airflow_instance = $1::text
  AND (state IS NULL OR state NOT IN ('success', 'failed'))
  AND id IS NULL
