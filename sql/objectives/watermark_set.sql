-- Records that objectives were judged now: the next transform judges again the runs loaded
-- since, and the DAGs first judged now are no longer new.
-- Grain: the one row of transform_state; objective_scope rows. Params: $1 reporting time
-- zone (for a first transform_state row), $2 run id.
WITH scope AS (
    UPDATE objective_scope SET judged_at = now() WHERE judged_at IS NULL
)
INSERT INTO transform_state AS s (singleton, time_zone, objectives_judged_at, updated_by_run_id)
VALUES (true, $1::text, now(), $2::uuid)
ON CONFLICT (singleton) DO UPDATE SET objectives_judged_at = now()
