-- Records that a notice went out to one route (inside the digest the route's webhook accepted).
-- Grain: one row per (alert, kind, route). Params: $1 alert_id, $2 'open' or 'resolve',
-- $3 route label, $4 run_id.
INSERT INTO alert_notice (alert_id, kind, route, run_id)
VALUES ($1::uuid, $2::text, $3::text, $4::uuid)
ON CONFLICT (alert_id, kind, route) DO NOTHING
