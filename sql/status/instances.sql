-- Each Airflow instance the warehouse knows: its watermark, its last successful load, its
-- pending extracts and the ones a load set aside, for pipewatch status.
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
        WHERE s.airflow_instance = i.airflow_instance AND s.loaded_at IS NULL
          AND s.set_aside_at IS NULL AND s.discarded_at IS NULL)         AS pending_extracts,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'object_key', s.object_key, 'set_aside_at', s.set_aside_at,
                   'reason', s.set_aside_reason) ORDER BY s.extracted_at), '[]')::text
        FROM staged_extract s
        WHERE s.airflow_instance = i.airflow_instance AND s.loaded_at IS NULL
          AND s.set_aside_at IS NOT NULL AND s.discarded_at IS NULL)     AS set_aside_extracts,
       (SELECT count(*) FROM dag_run_pending_day d
        WHERE d.airflow_instance = i.airflow_instance)                  AS pending_days
FROM instances AS i
LEFT JOIN extract_watermark AS w USING (airflow_instance)
ORDER BY i.airflow_instance
