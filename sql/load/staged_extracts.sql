-- Staged extracts: the pending ones (not loaded, set aside or discarded) of some or all
-- instances, or one by key.
-- Grain: one row per staged extract (its DAG-run object, with its task object if any), oldest
-- first.
-- Params: $1 airflow_instance or NULL for all, $2 object_key or NULL, $3 true to list only
-- pending extracts.
SELECT object_key, airflow_instance, airflow_major_version, extract_mode, source_read_at,
       row_count, byte_count, max_source_id, changed_runs_since, loaded_at, task_object_key,
       task_row_count, set_aside_at, set_aside_reason, discarded_at
FROM staged_extract
WHERE ($1::text IS NULL OR airflow_instance = $1::text)
  AND ($2::text IS NULL OR object_key = $2::text)
  AND (NOT $3::boolean
       OR (loaded_at IS NULL AND set_aside_at IS NULL AND discarded_at IS NULL))
ORDER BY extracted_at, object_key
