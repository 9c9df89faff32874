-- Each Airflow instance the warehouse knows: its watermark, its last successful load and its
-- pending extracts, for pipewatch status.
-- Grain: one row per airflow_instance. Params: none.
WITH instances AS (
    SELECT airflow_instance FROM extract_watermark
    UNION SELECT airflow_instance FROM staged_extract
)
SELECT i.airflow_instance,
       w.max_source_id,
       w.last_source_read_at,
       w.changed_runs_scanned_at,
       (SELECT max(loaded_at) FROM staged_extract s
        WHERE s.airflow_instance = i.airflow_instance)                  AS last_loaded_at,
       (SELECT count(*) FROM staged_extract s
        WHERE s.airflow_instance = i.airflow_instance AND s.loaded_at IS NULL) AS pending_extracts,
       (SELECT count(*) FROM dag_run_pending_day d
        WHERE d.airflow_instance = i.airflow_instance)                  AS pending_days
FROM instances AS i
LEFT JOIN extract_watermark AS w USING (airflow_instance)
ORDER BY i.airflow_instance
