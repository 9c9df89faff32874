-- The serialized DAGs of an Airflow 3 metadata database whose version (dag_version_id)
-- pipewatch keeps no task graph of yet: Airflow 3 keeps one serialized DAG per DAG version, and
-- a task instance names the version it ran with (task_instance.dag_version_id).
-- data is the JSON text; data_compressed the same zlib-compressed, with data NULL
-- ([core] compress_serialized_dags). pipewatch parses both (src/critical_path/graph.rs).
-- Grain: one row per serialized_dag row not kept. Params: $1 text[] the DAG ids and $2 text[]
-- the versions (pairs) pipewatch keeps.
SELECT s.dag_id, s.dag_version_id::text AS dag_version, s.data::text AS data,
       s.data_compressed, s.last_updated
FROM serialized_dag AS s
LEFT JOIN unnest($1::text[], $2::text[]) AS k(dag_id, dag_version)
  ON k.dag_id = s.dag_id AND k.dag_version = s.dag_version_id::text
WHERE k.dag_id IS NULL
