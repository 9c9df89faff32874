-- Records that an alert's opening ($2 = 'open') or resolution ($2 = 'resolve') was posted.
-- Grain: one row per alert. Params: $1 alert_id, $2 'open' or 'resolve'.
UPDATE alert_history
SET open_notified_at    = CASE WHEN $2::text = 'open' THEN now() ELSE open_notified_at END,
    resolve_notified_at = CASE WHEN $2::text = 'resolve' THEN now() ELSE resolve_notified_at END
WHERE alert_id = $1::uuid
