-- Which of Airflow's task tables the metadata database has: task_instance (every Airflow),
-- task_instance_history (Airflow 2.10 and newer: the earlier tries of each task instance).
-- Grain: one row per table found. Params: $1 the schema holding Airflow's tables.
-- Runs against the Airflow metadata database (read-only session).
SELECT table_name::text
FROM information_schema.tables
WHERE table_schema = $1::text
  AND table_name IN ('task_instance', 'task_instance_history')
