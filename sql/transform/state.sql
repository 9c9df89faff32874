-- The reporting time zone the models were computed in; no row before the first transform.
-- Grain: zero or one row. Params: none.
SELECT time_zone FROM transform_state
