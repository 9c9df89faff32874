-- After sql/catalog/close_spans.sql (same transaction): opens a dag_catalog_history span, from
-- the reading's time, for each DAG of the instance that has no current one (a DAG seen for the
-- first time, or one whose span was just closed), with dag_catalog's values.
-- Grain: inserts one row per such (airflow_instance, dag_id). Params: $1 airflow_instance, $2
-- the Airflow clock at the reading, $3 the invocation's run id.
INSERT INTO dag_catalog_history (
    airflow_instance, dag_id, valid_from, is_paused, is_stale, has_import_errors, owners, tags,
    schedule, schedule_description, max_active_runs, fileloc, in_airflow, recorded_by_run_id)
SELECT c.airflow_instance, c.dag_id, $2::timestamptz, c.is_paused, c.is_stale,
       c.has_import_errors, c.owners, c.tags, c.schedule, c.schedule_description,
       c.max_active_runs, c.fileloc, c.in_airflow, $3::uuid
FROM dag_catalog AS c
WHERE c.airflow_instance = $1::text
  AND NOT EXISTS (SELECT 1 FROM dag_catalog_history AS h
                  WHERE h.airflow_instance = c.airflow_instance
                    AND h.dag_id = c.dag_id AND h.valid_to IS NULL)
ON CONFLICT (airflow_instance, dag_id, valid_from) DO NOTHING
