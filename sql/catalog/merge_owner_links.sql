-- Sets dag_catalog.owner_links from one reading of dag_owner_attributes (the JSON of
-- sql/source/airflow_db/owner_links.sql): each DAG's {owner: link} object, NULL for a DAG of
-- the instance that declares none. Only rows whose links changed are written.
-- Grain: updates one row per (airflow_instance, dag_id) whose links changed. Params: $1
-- airflow_instance, $2 the reading (JSON text).
WITH links AS (
    SELECT l.dag_id, jsonb_object_agg(l.owner, l.link) AS links
    FROM jsonb_to_recordset($2::text::jsonb) AS l(dag_id text, owner text, link text)
    WHERE l.dag_id IS NOT NULL AND l.owner IS NOT NULL
    GROUP BY l.dag_id
)
UPDATE dag_catalog AS c
SET owner_links = l.links
FROM dag_catalog AS d
LEFT JOIN links AS l ON l.dag_id = d.dag_id
WHERE d.airflow_instance = $1::text
  AND c.airflow_instance = d.airflow_instance
  AND c.dag_id = d.dag_id
  AND c.owner_links IS DISTINCT FROM l.links
