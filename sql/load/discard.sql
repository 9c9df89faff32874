-- Discards a staged extract that was not loaded (pending or set aside): it leaves the queue
-- for good; retention deletes its object later like a loaded one.
-- Grain: one row per staged object. Params: $1 object_key, $2 the invocation's run id.
-- Returns the discarded extract's instance and why it had been set aside (NULL: pending).
UPDATE staged_extract
SET discarded_at = now(), discarded_by_run_id = $2::uuid
WHERE object_key = $1::text AND loaded_at IS NULL AND discarded_at IS NULL
RETURNING airflow_instance, set_aside_reason
