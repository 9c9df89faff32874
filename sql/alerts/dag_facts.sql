-- The owners and tags of the DAGs alerts are about, as the last catalogue reading found them,
-- for routing. A DAG the catalogue does not know is left out (only a route's instance and
-- dag_id can take it).
-- Grain: one row per (airflow_instance, dag_id) asked for and catalogued.
-- Params: $1 instances, $2 dag ids (pairwise).
SELECT c.airflow_instance, c.dag_id::text AS dag_id, c.owners, c.tags
FROM unnest($1::text[], $2::text[]) AS k (airflow_instance, dag_id)
JOIN dag_catalog AS c ON c.airflow_instance = k.airflow_instance AND c.dag_id = k.dag_id
