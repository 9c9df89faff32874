-- The open alerts, to resolve those whose rule or subject is no longer evaluated.
-- Grain: one row per open alert. Params: none.
SELECT rule, airflow_instance, subject FROM alert_history WHERE resolved_at IS NULL
