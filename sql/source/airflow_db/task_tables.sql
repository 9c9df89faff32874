-- Which of Airflow's task tables the metadata database has: task_instance (every Airflow),
-- task_instance_history (Airflow 2.10 and newer: the earlier tries of each task instance), and
-- whether the session's role may read each. Read from the catalog, which lists tables whatever
-- the role's privileges (information_schema hides the ones it may not read, so a missing GRANT
-- looked like a missing table).
-- Grain: one row per table found. Params: $1 the schema holding Airflow's tables.
-- Runs against the Airflow metadata database (read-only session).
SELECT c.relname::text AS table_name,
       has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT') AS readable
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = $1::text
  AND c.relname IN ('task_instance', 'task_instance_history')
  AND c.relkind IN ('r', 'p', 'v')
