-- Takes the queued validation days (see take_pending_dag_run_days.sql).
-- Grain: one row per day. Params: none.
DELETE FROM validation_pending_day RETURNING day
