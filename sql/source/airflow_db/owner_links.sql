-- The DAGs' owner links (dag_owner_attributes: the `owner_links` a DAG declares, shown by
-- Airflow's UI as links on the owners), for the catalogue: one JSON array, the same on Airflow
-- 2 and 3. Read where the table is there and readable (sql/source/airflow_db/catalog_tables.sql).
-- Grain: one row. Params: none.
-- Runs against the Airflow metadata database (read-only session).
SELECT coalesce(jsonb_agg(jsonb_build_object('dag_id', o.dag_id, 'owner', o.owner,
                                             'link', o.link)
                          ORDER BY o.dag_id, o.owner), '[]'::jsonb)::text AS owner_links
FROM dag_owner_attributes AS o
