-- Keeps an open alert's latest numbers when its condition still breaches.
-- Grain: one row per alert. Params: $1 rule, $2 airflow_instance, $3 subject, $4 message,
-- $5 details (JSON text).
UPDATE alert_history
SET last_breach_at = now(), message = $4::text, details = $5::text::jsonb
WHERE rule = $1::text AND airflow_instance = $2::text AND subject = $3::text
  AND resolved_at IS NULL
