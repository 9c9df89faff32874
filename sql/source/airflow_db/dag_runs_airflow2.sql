-- Airflow 2.8+ dag_run rows in pipewatch's extract columns; the column names are the header of
-- every staged CSV extract. Runs inside COPY (...) TO STDOUT.
-- Grain: one row per DAG run (Airflow's dag_run row).
-- Params: COPY takes no bind parameters, so values come from settings the extract sets with
-- set_config($1) in the same transaction: pipewatch.airflow_instance (the instance name).
-- The extract appends one filter (filter_ids.sql) or none (a full extract).
SELECT current_setting('pipewatch.airflow_instance') AS airflow_instance,
       2                      AS airflow_major_version,
       dr.id,
       dr.dag_id,
       dr.run_id,
       dr.execution_date,
       NULL::timestamptz      AS run_after,
       dr.state,
       dr.run_type,
       dr.external_trigger,
       dr.queued_at,
       dr.start_date,
       dr.end_date,
       dr.data_interval_start,
       dr.data_interval_end,
       dr.clear_number,
       dr.dag_hash            AS dag_version,
       dr.updated_at          AS source_updated_at,
       now()                  AS source_read_at
FROM dag_run AS dr
