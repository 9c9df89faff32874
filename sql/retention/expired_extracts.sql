-- Staged extracts old enough to delete: loaded (or discarded by hand) more than the retention
-- ago. A pending or set-aside extract is never expired, whatever its age: a later load still
-- needs it.
-- Grain: one row per staged object, oldest first, at most 1000 per run.
-- Params: $1 retention in days.
SELECT object_key
FROM staged_extract
WHERE coalesce(loaded_at, discarded_at) IS NOT NULL
  AND coalesce(loaded_at, discarded_at) < now() - $1::integer * interval '1 day'
ORDER BY coalesce(loaded_at, discarded_at)
LIMIT 1000
