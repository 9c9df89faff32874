-- What the warehouse holds of the runs an incremental extract re-checks (the newest
-- recheck_last_ids ids, for rows that committed out of id order): their Airflow id and Airflow's
-- updated_at as last read. The source then copies only the runs of that range it does not
-- hold or that changed since (sql/source/airflow_db/incremental_ids.sql). Index
-- dag_run_history_source_id_idx (migration 0012).
-- Grain: one row per loaded run of the instance with an Airflow id above $2.
-- Params: $1 airflow_instance, $2 integer: the re-check's lower bound (exclusive).
SELECT id, source_updated_at
FROM dag_run_history
WHERE airflow_instance = $1::text
  AND id > $2::integer
