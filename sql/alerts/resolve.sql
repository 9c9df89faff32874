-- Resolves the open alert of a rule and subject whose condition cleared, and starts its
-- cooldown.
-- Grain: one row per alert. Params: $1 rule, $2 airflow_instance, $3 subject, $4 run id,
-- $5 cooldown minutes.
-- Returns: the alert resolved, if one was open.
WITH resolved AS (
    UPDATE alert_history
    SET resolved_at = now(), resolved_by_run_id = $4::uuid
    WHERE rule = $1::text AND airflow_instance = $2::text AND subject = $3::text
      AND resolved_at IS NULL
    RETURNING alert_id
),
cooled AS (
    UPDATE alert_state
    SET cooldown_until = now() + make_interval(mins => $5::integer)
    WHERE rule = $1::text AND airflow_instance = $2::text AND subject = $3::text
      AND EXISTS (SELECT 1 FROM resolved)
)
SELECT alert_id FROM resolved
