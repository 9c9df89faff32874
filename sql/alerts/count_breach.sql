-- Records one evaluation of a rule for a subject: the consecutive breaches go up by one, or back
-- to 0 when the condition holds.
-- Grain: one row per (rule, airflow_instance, subject). Params: $1 rule, $2 airflow_instance,
-- $3 subject, $4 whether it breached.
-- Returns: the consecutive breaches now, and the end of the cooldown (NULL: none).
INSERT INTO alert_state AS s (rule, airflow_instance, subject, consecutive_breaches, last_evaluated_at)
VALUES ($1::text, $2::text, $3::text, CASE WHEN $4::boolean THEN 1 ELSE 0 END, now())
ON CONFLICT (rule, airflow_instance, subject) DO UPDATE
SET consecutive_breaches = CASE WHEN $4::boolean THEN s.consecutive_breaches + 1 ELSE 0 END,
    last_evaluated_at    = now()
RETURNING consecutive_breaches, cooldown_until, cooldown_until > now() AS cooling_down
