-- Records one evaluation of the alert rules: the run-history rules open on what happened since
-- the previous one (sql/alerts/last_evaluation.sql).
-- Grain: one row per evaluation. Params: $1 run id.
INSERT INTO alert_evaluation (run_id) VALUES ($1::uuid)
