-- Records the time zone the models are now computed in (and when a full refresh happened).
-- Grain: the one row of transform_state. Params: $1 time zone, $2 true after a full refresh,
-- $3 the run id.
INSERT INTO transform_state AS s (singleton, time_zone, full_refresh_at, updated_by_run_id)
VALUES (true, $1::text, CASE WHEN $2::boolean THEN now() END, $3::uuid)
ON CONFLICT (singleton) DO UPDATE
SET time_zone = EXCLUDED.time_zone,
    full_refresh_at = coalesce(EXCLUDED.full_refresh_at, s.full_refresh_at),
    updated_at = now(),
    updated_by_run_id = EXCLUDED.updated_by_run_id
