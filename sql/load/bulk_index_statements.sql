-- The statements that drop and re-create every index of an empty history table, for a bulk
-- first load: COPY into the table without its indexes, then build each index once by sorting,
-- which is several times faster than maintaining them row by row. Taken from the catalog, so the
-- indexes come back exactly as they were (names, definitions, constraints, comments), including
-- any an operator added. Used only when the table holds no row. No rows when the table cannot
-- take the bulk path: another table's foreign key references it, or its replica identity is an
-- index.
-- Grain: one row per index of the table, the primary key first.
-- Params: $1 the table's name (resolved through the search_path: pipewatch's schema).
-- Returns: drop_sql (one statement), create_sql (one or more statements, run in order).
WITH target AS (
    SELECT c.oid AS table_oid
    FROM pg_class AS c
    WHERE c.oid = $1::text::regclass
      AND c.relreplident <> 'i'
      AND NOT EXISTS (SELECT 1 FROM pg_constraint AS f
                      WHERE f.confrelid = c.oid AND f.contype = 'f')
)
SELECT CASE WHEN con.oid IS NOT NULL
            THEN format('ALTER TABLE %s DROP CONSTRAINT %I', t.table_oid::regclass, con.conname)
            ELSE format('DROP INDEX %s', i.indexrelid::regclass)
       END AS drop_sql,
       concat_ws(';' || chr(10),
           CASE WHEN con.oid IS NOT NULL
                THEN format('ALTER TABLE %s ADD CONSTRAINT %I %s', t.table_oid::regclass,
                            con.conname, pg_get_constraintdef(con.oid))
                ELSE pg_get_indexdef(i.indexrelid)
           END,
           CASE WHEN obj_description(i.indexrelid, 'pg_class') IS NOT NULL
                THEN format('COMMENT ON INDEX %s IS %L', i.indexrelid::regclass,
                            obj_description(i.indexrelid, 'pg_class'))
           END,
           CASE WHEN con.oid IS NOT NULL AND obj_description(con.oid, 'pg_constraint') IS NOT NULL
                THEN format('COMMENT ON CONSTRAINT %I ON %s IS %L', con.conname,
                            t.table_oid::regclass, obj_description(con.oid, 'pg_constraint'))
           END) AS create_sql
FROM target AS t
JOIN pg_index AS i ON i.indrelid = t.table_oid
LEFT JOIN pg_constraint AS con ON con.conindid = i.indexrelid AND con.conrelid = t.table_oid
                               AND con.contype IN ('p', 'u', 'x')
ORDER BY i.indisprimary DESC, i.indexrelid
