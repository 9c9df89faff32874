-- Benchmark source: the serialized DAG of every DAG of the generated dag_run rows
-- (benches/airflow2_dag_runs.sql), in the shape Airflow 2.10 writes: the 20 tasks of
-- benches/airflow2_task_instances.sql in a chain (task_01 >> task_02 >> ... >> task_20), with the
-- runs' dag_hash, so the critical paths of scripts/bench tasks are walked on a known graph.
-- Grain: one serialized_dag row per DAG. Params: none. Requires the tables of
-- tests/fixtures/airflow/catalog_airflow2.sql and the generated dag_run rows.
INSERT INTO serialized_dag (dag_id, fileloc, fileloc_hash, data, last_updated, dag_hash)
SELECT DISTINCT ON (dr.dag_id) dr.dag_id, '/opt/airflow/dags/' || dr.dag_id || '.py', 0,
       json_build_object('__version', 1, 'dag', json_build_object(
           '_dag_id', dr.dag_id,
           'tasks', (SELECT json_agg(json_build_object(
                         '__type', 'operator',
                         '__var', json_build_object(
                             'task_id', 'task_' || lpad(t::text, 2, '0'),
                             'downstream_task_ids',
                             CASE WHEN t < 20 THEN json_build_array('task_' || lpad((t + 1)::text, 2, '0'))
                                  ELSE '[]'::json END,
                             'pool', 'default_pool',
                             '_task_type', 'PythonOperator')) ORDER BY t)
                     FROM generate_series(1, 20) AS t))),
       now(), dr.dag_hash
FROM dag_run AS dr
ORDER BY dr.dag_id, dr.id;
