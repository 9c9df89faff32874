-- The DAG versions whose task graph pipewatch keeps (dag_graph_version): the source reads only
-- the other versions' serialized DAGs.
-- Grain: one row. Params: $1 airflow_instance.
SELECT coalesce(array_agg(dag_id ORDER BY dag_id, dag_version), '{}')      AS dag_ids,
       coalesce(array_agg(dag_version ORDER BY dag_id, dag_version), '{}') AS versions
FROM dag_graph_version
WHERE airflow_instance = $1::text
