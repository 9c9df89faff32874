-- The alerts `pipewatch alerts` lists: the open ones, and unless $1 the resolved ones of the
-- last 30 days, the newest first.
-- Grain: one row per alert. Params: $1 only open alerts.
SELECT alert_id, rule, airflow_instance, subject, day, opened_at, resolved_at, message, details::text AS details
FROM alert_history
WHERE resolved_at IS NULL OR (NOT $1::boolean AND opened_at >= now() - interval '30 days')
ORDER BY resolved_at IS NULL DESC, opened_at DESC, alert_id
