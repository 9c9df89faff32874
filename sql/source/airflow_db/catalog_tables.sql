-- Which of the tables the DAG catalogue reads the metadata database has (dag, dag_tag,
-- import_error, job, slot_pool; and, where they are and readable, task_instance for the pools'
-- slots, Airflow's deadline tables sla_miss, deadline and deadline_alert, and serialized_dag for
-- the DAGs' timetables, dag_owner_attributes for owner links) and whether the session's role may read each: read from the catalog, which
-- lists tables whatever the role's privileges, so a missing GRANT is named as such.
-- Grain: one row per table found. Params: $1 the schema holding Airflow's tables.
-- Runs against the Airflow metadata database (read-only session).
SELECT c.relname::text AS table_name,
       has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT') AS readable
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = $1::text
  AND c.relname IN ('dag', 'dag_tag', 'import_error', 'job', 'slot_pool', 'task_instance',
                    'sla_miss', 'deadline', 'deadline_alert', 'serialized_dag',
                    'dag_owner_attributes')
  AND c.relkind IN ('r', 'p', 'v')
