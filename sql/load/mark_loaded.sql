-- Marks a staged extract as loaded, in the load's transaction.
-- Grain: one row per staged object. Params: $1 object_key, $2 loading run id, $3 DAG-run rows
-- changed, $4 task-try rows changed (NULL without a task object).
UPDATE staged_extract
SET loaded_at = now(), loaded_by_run_id = $2::uuid, rows_loaded = $3::bigint,
    task_rows_loaded = $4::bigint
WHERE object_key = $1::text
