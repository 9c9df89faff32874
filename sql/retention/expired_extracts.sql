-- Staged extracts old enough to delete: loaded more than the retention ago. A pending extract
-- (not loaded) is never expired, whatever its age: a later load still needs it.
-- Grain: one row per staged object, oldest first, at most 1000 per run.
-- Params: $1 retention in days.
SELECT object_key
FROM staged_extract
WHERE loaded_at IS NOT NULL
  AND loaded_at < now() - $1::integer * interval '1 day'
ORDER BY loaded_at
LIMIT 1000
