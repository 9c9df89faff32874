-- Every day that has validation results, for a full refresh.
-- Grain: one row per day. Params: $1 reporting time zone.
SELECT DISTINCT (test_run_at AT TIME ZONE $1::text)::date AS day FROM validation_run_history
