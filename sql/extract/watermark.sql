-- The watermark of one Airflow instance (warehouse side).
-- Grain: zero or one row. Params: $1 airflow_instance.
SELECT max_source_id, changed_runs_scanned_at
FROM extract_watermark
WHERE airflow_instance = $1::text
