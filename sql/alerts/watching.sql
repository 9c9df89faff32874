-- The subjects with an alert open (and since when) or breaches counted without an alert yet:
-- the run-history rules judge them over the last day instead of since the previous evaluation,
-- and keep an open alert's baseline as it was when it opened.
-- Grain: one row per (rule, airflow_instance, subject). Params: none.
SELECT rule, airflow_instance, subject, min(opened_at) AS opened_at
FROM (SELECT rule, airflow_instance, subject, opened_at
      FROM alert_history WHERE resolved_at IS NULL
      UNION ALL
      SELECT rule, airflow_instance, subject, NULL
      FROM alert_state WHERE consecutive_breaches > 0) w
GROUP BY rule, airflow_instance, subject
