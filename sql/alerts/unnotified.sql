-- Alerts whose opening or resolution was not posted yet (new ones, or a webhook that failed).
-- Grain: one row per alert to post. Params: none.
SELECT alert_id, rule, airflow_instance, subject, day, opened_at, resolved_at, message,
       open_notified_at IS NULL AS open_pending,
       resolved_at IS NOT NULL AND resolve_notified_at IS NULL AS resolve_pending
FROM alert_history
WHERE open_notified_at IS NULL OR (resolved_at IS NOT NULL AND resolve_notified_at IS NULL)
ORDER BY opened_at, alert_id
