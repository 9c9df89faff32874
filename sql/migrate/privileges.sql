-- What the connected role may do with pipewatch's schema, for check-config: whether it may
-- create the schema (when it does not exist yet), use it and create tables in it, and, per
-- table, whether it owns the table (itself or through a role it belongs to: what migrations
-- and loads need) and may read it (what report, alerts and status need).
-- Grain: one row per table in the schema; one row with a NULL table_name when the schema has no
-- table or does not exist. Params: $1 the schema name.
SELECT has_database_privilege(current_database(), 'CREATE') AS can_create_schema,
       n.oid IS NOT NULL                                    AS schema_exists,
       coalesce(has_schema_privilege(n.oid, 'USAGE'), false)  AS can_use_schema,
       coalesce(has_schema_privilege(n.oid, 'CREATE'), false) AS can_create_tables,
       c.relname::text                                      AS table_name,
       pg_has_role(c.relowner, 'USAGE')                     AS owns,
       has_table_privilege(c.oid, 'SELECT')                 AS can_read
FROM (SELECT 1) AS one
LEFT JOIN pg_namespace AS n ON n.nspname = $1::text
LEFT JOIN pg_class AS c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
ORDER BY c.relname
