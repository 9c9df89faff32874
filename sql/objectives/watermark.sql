-- When objectives were last judged (NULL: never, or before pipewatch kept it).
-- Grain: the one row of transform_state, or none. Params: none.
SELECT objectives_judged_at FROM transform_state
