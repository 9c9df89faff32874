-- The catalogued DAGs objectives are matched against (by instance, dag_id, owners and tags),
-- and whether Airflow still has each (a DAG it no longer has is not judged).
-- Grain: one row per (airflow_instance, dag_id) in dag_catalog. Params: none.
SELECT airflow_instance, dag_id::text AS dag_id, owners, tags, in_airflow
FROM dag_catalog
ORDER BY airflow_instance, dag_id
