-- The columns of Airflow's dag_run table, to tell Airflow 2 from Airflow 3, and whether the
-- session's role may read the table. Read from the catalog, which lists them whatever the
-- role's privileges (information_schema hides a table the role may not read).
-- Grain: one row per column of dag_run in the given schema.
-- Params: $1 the schema holding Airflow's tables ([airflowdb_config] schema).
-- Runs against the Airflow metadata database (read-only session).
SELECT a.attname::text AS column_name,
       has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT') AS readable
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = $1::text
  AND c.relname = 'dag_run'
  AND c.relkind IN ('r', 'p', 'v')
  AND a.attnum > 0
  AND NOT a.attisdropped
ORDER BY a.attnum
