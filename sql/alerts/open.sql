-- Opens an alert, unless one is already open for the rule and subject or, for a day-based rule,
-- one was already opened for that day (re-runs, backfills and overlapping runs open it once;
-- the DAG catalogue's rules open once per episode: migration 0015).
-- Grain: one row per alert. Params: $1 alert_id, $2 rule, $3 airflow_instance, $4 subject,
-- $5 day, $6 run id, $7 message, $8 details (JSON text).
-- Returns: the alert, when it was opened now.
INSERT INTO alert_history (alert_id, rule, airflow_instance, subject, day, opened_by_run_id,
                           message, details)
VALUES ($1::uuid, $2::text, $3::text, $4::text, $5::date, $6::uuid, $7::text, $8::text::jsonb)
ON CONFLICT DO NOTHING
RETURNING alert_id
