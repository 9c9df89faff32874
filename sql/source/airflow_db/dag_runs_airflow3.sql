-- Airflow 3.x dag_run rows in pipewatch's extract columns (the same columns as
-- dag_runs_airflow2.sql). Runs inside COPY (...) TO STDOUT.
-- Grain: one row per DAG run (Airflow's dag_run row).
-- Params: settings set with set_config($1) in the same transaction:
-- pipewatch.airflow_instance (the instance name). The extract appends filter_ids.sql or nothing.
-- Airflow 3 renamed execution_date to logical_date, which is NULL for manual and
-- asset-triggered runs (run_after then gives the run's day), and dropped external_trigger: a
-- manual run is run_type = 'manual'.
SELECT current_setting('pipewatch.airflow_instance') AS airflow_instance,
       3                      AS airflow_major_version,
       dr.id,
       dr.dag_id,
       dr.run_id,
       dr.logical_date        AS execution_date,
       dr.run_after,
       dr.state,
       dr.run_type,
       dr.run_type = 'manual' AS external_trigger,
       dr.queued_at,
       dr.start_date,
       dr.end_date,
       dr.data_interval_start,
       dr.data_interval_end,
       dr.clear_number,
       dr.created_dag_version_id::text AS dag_version,
       dr.updated_at          AS source_updated_at,
       now()                  AS source_read_at
FROM dag_run AS dr
