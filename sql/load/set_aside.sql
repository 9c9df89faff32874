-- Sets aside a staged extract whose load failed for what the object holds, so the extracts
-- after it are loaded; it stays reported until loaded again by key or discarded.
-- Grain: one row per staged object. Params: $1 object_key, $2 the invocation's run id, $3 the
-- reason (the load's error).
UPDATE staged_extract
SET set_aside_at = now(), set_aside_by_run_id = $2::uuid, set_aside_reason = $3::text
WHERE object_key = $1::text AND loaded_at IS NULL
