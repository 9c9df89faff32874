-- What each DAG's timetable facts were read from at an earlier reading (the serialized DAG's
-- dag_hash, or the schedule text through the REST API): the source reads the timetable again
-- only for DAGs whose key changed.
-- Grain: one row. Params: $1 airflow_instance.
SELECT coalesce(array_agg(dag_id::text ORDER BY dag_id), '{}')               AS dag_ids,
       coalesce(array_agg(timetable_source_key ORDER BY dag_id), '{}')       AS keys
FROM dag_catalog
WHERE airflow_instance = $1::text
  AND timetable_source_key IS NOT NULL
