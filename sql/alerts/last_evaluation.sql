-- When the alert rules were last evaluated (NULL: never), and the warehouse's clock: the
-- run-history rules open on what happened between the two (at most a day back).
-- Grain: one row. Params: none.
SELECT (SELECT max(evaluated_at) FROM alert_evaluation) AS last_evaluated_at, now() AS now
