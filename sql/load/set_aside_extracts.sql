-- The extracts a load set aside and nobody has dealt with yet (not loaded again, not
-- discarded), of one instance or all.
-- Grain: one row per staged object, oldest first. Params: $1 airflow_instance or NULL for all.
SELECT object_key, airflow_instance, set_aside_at, set_aside_reason
FROM staged_extract
WHERE set_aside_at IS NOT NULL AND loaded_at IS NULL AND discarded_at IS NULL
  AND ($1::text IS NULL OR airflow_instance = $1::text)
ORDER BY extracted_at, object_key
