-- The Airflow ids of the runs the warehouse holds as unfinished for one instance: re-read on
-- every extract until they finish (index dag_run_history_unfinished_idx).
-- Grain: one row per unfinished run. Params: $1 airflow_instance.
SELECT id
FROM dag_run_history
WHERE airflow_instance = $1::text
  AND (state IS NULL OR state NOT IN ('success', 'failed'))
  AND id IS NOT NULL
