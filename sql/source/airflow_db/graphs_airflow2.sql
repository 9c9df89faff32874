-- The serialized DAGs of an Airflow 2 metadata database whose version (dag_hash) pipewatch
-- keeps no task graph of yet: Airflow 2 keeps only each DAG's latest serialized DAG, so this
-- reads each new version once, at the first catalogue reading after its file was parsed.
-- data is the JSON text; data_compressed the same zlib-compressed, with data NULL
-- ([core] compress_serialized_dags). pipewatch parses both (src/critical_path/graph.rs).
-- Grain: one row per serialized_dag row not kept. Params: $1 text[] the DAG ids and $2 text[]
-- the versions (pairs) pipewatch keeps.
SELECT s.dag_id, s.dag_hash AS dag_version, s.data::text AS data, s.data_compressed,
       s.last_updated
FROM serialized_dag AS s
LEFT JOIN unnest($1::text[], $2::text[]) AS k(dag_id, dag_version)
  ON k.dag_id = s.dag_id AND k.dag_version = s.dag_hash
WHERE k.dag_id IS NULL
