-- The columns of Airflow's dag_run table, to tell Airflow 2 from Airflow 3.
-- Grain: one row per column of dag_run in the given schema.
-- Params: $1 the schema holding Airflow's tables ([airflowdb_config] schema).
-- Runs against the Airflow metadata database (read-only session).
SELECT column_name::text
FROM information_schema.columns
WHERE table_schema = $1::text
  AND table_name = 'dag_run'
ORDER BY ordinal_position
