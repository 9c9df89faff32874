-- The alerts open now, for the Prometheus metrics.
-- Grain: one row per (airflow_instance, rule) with at least one open alert. Params: none.
SELECT airflow_instance, rule, count(*) AS open_alerts
FROM alert_history
WHERE resolved_at IS NULL
GROUP BY airflow_instance, rule
ORDER BY airflow_instance, rule
